//! Keeps the server crate's module graph free of import circles, and its request path reading one
//! way: front door → observe → auth and handlers → keygate (admission) → error (a module on that
//! path never imports one before it), with `state.rs` below every step of it but `error`.
//!
//! It reads `src/` as text: every `crate::a::b…` path (in `use` lines, brace groups included, and
//! inline) and `super::…` path outside `#[cfg(test)]` code is an edge to the longest module it
//! names. A circle is reported with the modules in it and their edges, so the failure says which
//! import to undo. Must not: compile or expand anything (it is a text check, on purpose cheap).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Module path (`routes::chat`, `lib` for the crate root) of every source file under `src`.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files
        .into_iter()
        .map(|file| {
            let rel = file
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let name = if parts.is_empty() {
                "lib".to_string()
            } else {
                parts.join("::")
            };
            (name, file)
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths written after `prefix` at the start of `text`: `a::b::C`, or a brace group
/// `{a::b, c::{d, e}}` expanded into each path.
fn paths_after(prefix: &[String], text: &str, out: &mut Vec<Vec<String>>) {
    let mut segments = prefix.to_vec();
    let mut rest = text;
    loop {
        let rest_trim = rest.trim_start();
        if let Some(group) = rest_trim.strip_prefix('{') {
            // Split the group at its top-level commas.
            let (mut depth, mut start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        paths_after(&segments, &group[start..i], out);
                        return;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        paths_after(&segments, &group[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let len = rest_trim
            .find(|c: char| !is_ident(c))
            .unwrap_or(rest_trim.len());
        if len == 0 {
            break;
        }
        segments.push(rest_trim[..len].to_string());
        match rest_trim[len..].strip_prefix("::") {
            Some(after) => rest = after,
            None => break,
        }
    }
    out.push(segments);
}

/// Source without test modules and comment lines.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn graph(src: &Path) -> Graph {
    let mods = modules(src);
    let mut graph = Graph::new();
    for (name, file) in &mods {
        let text = code(&std::fs::read_to_string(file).expect("read source"));
        let parent: Vec<String> = match name.rsplit_once("::") {
            Some((p, _)) => p.split("::").map(str::to_string).collect(),
            None => Vec::new(),
        };
        let mut paths = Vec::new();
        for (marker, prefix) in [("crate::", Vec::new()), ("super::", parent)] {
            for (at, _) in text.match_indices(marker) {
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| is_ident(c) || c == ':') {
                    continue; // `$crate::`, `foo::super::` …
                }
                paths_after(&prefix, &text[at + marker.len()..], &mut paths);
            }
        }
        let edges = graph.entry(name.clone()).or_default();
        for path in paths {
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| mods.contains_key(m));
            if let Some(target) = target.filter(|t| t != name) {
                edges.insert(target);
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.found.push(comp);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

fn server_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Is `module` `step` or inside it (`routes` covers `routes::chat`)?
fn within(module: &str, step: &str) -> bool {
    module == step
        || module
            .strip_prefix(step)
            .is_some_and(|r| r.starts_with("::"))
}

#[test]
fn no_import_circle_in_the_server_crate() {
    let graph = graph(&server_src());
    assert!(graph.len() > 20, "read the crate's modules: {graph:?}");
    let found = circles(&graph);
    let described: Vec<String> = found
        .iter()
        .map(|comp| {
            let edges: Vec<String> = comp
                .iter()
                .map(|m| {
                    let inside: Vec<&str> = graph[m]
                        .iter()
                        .filter(|t| comp.contains(t))
                        .map(String::as_str)
                        .collect();
                    format!("{m} -> {}", inside.join(", "))
                })
                .collect();
            format!(
                "{} modules in one circle:\n  {}",
                comp.len(),
                edges.join("\n  ")
            )
        })
        .collect();
    assert!(found.is_empty(), "{}", described.join("\n"));
}

#[test]
fn the_request_path_imports_one_way() {
    let graph = graph(&server_src());
    // Each step may import the steps after it, never one before it. Admission (`keygate`) is
    // called by authentication and by the handlers (`routing::run`, the pass-through), so it sits
    // below both; a handler may read a key with auth's helpers (the `/metrics` check, a stored
    // response's owner), so they share a step.
    let path = [
        &["front_door"][..],
        &["observe"],
        &["auth", "routes", "routing"],
        &["keygate"],
        &["error", "anthropic_error"],
    ];
    let step_of = |m: &str| path.iter().position(|s| s.iter().any(|x| within(m, x)));
    let mut backwards = Vec::new();
    for (module, targets) in &graph {
        let Some(from) = step_of(module) else {
            continue;
        };
        for target in targets {
            if step_of(target).is_some_and(|to| to < from) {
                backwards.push(format!("{module} -> {target}"));
            }
        }
    }
    // The shared state sits below every step: it imports none of them but `error`.
    for target in &graph["state"] {
        if step_of(target).is_some_and(|to| to < path.len() - 1) {
            backwards.push(format!("state -> {target}"));
        }
    }
    assert!(
        backwards.is_empty(),
        "imports against the request path: {backwards:?}"
    );
}

#[test]
fn the_checker_sees_a_circle_and_brace_groups() {
    let dir = std::env::temp_dir().join(format!("shale-module-graph-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("routes")).unwrap();
    let write = |p: &str, t: &str| std::fs::write(dir.join(p), t).unwrap();
    write(
        "lib.rs",
        "pub mod a;\npub mod b;\npub mod c;\npub mod routes;\n",
    );
    write("a.rs", "use crate::{b::Thing, routes::{x}};\n");
    write("b.rs", "fn f() { crate::c::go(); }\n");
    write(
        "c.rs",
        "// crate::routes::x is only a comment\nuse super::a::Y;\n",
    );
    write("routes/mod.rs", "pub mod x;\n");
    write("routes/x.rs", "#[cfg(test)]\nmod tests { use crate::a; }\n");
    let graph = graph(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let edges = |m: &str| graph[m].iter().cloned().collect::<Vec<_>>();
    assert_eq!(edges("a"), ["b", "routes::x"]);
    assert_eq!(edges("b"), ["c"]);
    assert_eq!(edges("c"), ["a"]);
    assert!(edges("routes::x").is_empty(), "test code is not an edge");
    assert_eq!(circles(&graph), vec![vec!["a", "b", "c"]]);
}
