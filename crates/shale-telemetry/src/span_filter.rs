//! A per-layer filter decided once per callsite. `tracing_subscriber::filter::filter_fn` has no
//! callsite answer, so every span in the process would be built and asked again each time it is
//! opened, entered and closed; [`CallsiteFilter`] answers `always` or `never` when a callsite
//! registers, so spans no layer wants are never built at all. Only for predicates that depend on
//! the static metadata (target, name, kind), never on field values or the current span.

use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::layer::{Context, Filter};

/// Lets through the callsites `wanted` says yes to; decided once per callsite.
#[derive(Clone, Copy)]
pub struct CallsiteFilter {
    wanted: fn(&Metadata<'_>) -> bool,
}

impl CallsiteFilter {
    pub const fn new(wanted: fn(&Metadata<'_>) -> bool) -> CallsiteFilter {
        CallsiteFilter { wanted }
    }
}

impl<S> Filter<S> for CallsiteFilter {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        (self.wanted)(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if (self.wanted)(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tracing::span;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    struct CountSpans(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> Layer<S> for CountSpans {
        fn on_new_span(&self, _: &span::Attributes<'_>, _: &span::Id, _: Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn only_wanted_callsites_are_built() {
        let seen = Arc::new(AtomicUsize::new(0));
        let filter = CallsiteFilter::new(|meta| meta.target() == "wanted");
        let subscriber =
            tracing_subscriber::registry().with(CountSpans(Arc::clone(&seen)).with_filter(filter));
        tracing::subscriber::with_default(subscriber, || {
            let kept = tracing::info_span!(target: "wanted", "a");
            let dropped = tracing::info_span!(target: "other", "b");
            assert!(!kept.is_disabled());
            // No layer wants it, so the span is not even created.
            assert!(dropped.is_disabled());
        });
        assert_eq!(seen.load(Ordering::Relaxed), 1);
    }
}
