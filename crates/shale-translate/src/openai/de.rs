//! One-pass deserialisation of the chat request's hot path: the structs that keep unknown
//! members in `extra` ([`open_struct!`]) and `MessageContent` (a string without serde's untagged
//! buffering, see `message_content`).
//!
//! `#[serde(flatten)]` makes serde's derive buffer every unknown member into its private
//! `Content` tree and convert it again afterwards. [`open_struct!`] declares such a struct from
//! one field list and implements `Deserialize` with a field-identifier enum whose `visit_map`
//! parses known members straight into their types and unknown ones straight into
//! `serde_json::Value`. It reproduces the derive's observable behaviour: `deserialize_map` with
//! the expectation `struct Name`, `duplicate field` on a repeated known member, a later unknown
//! duplicate replacing the earlier value, missing members checked in declaration order after the
//! map (`missing field` for required ones, `None` for `Option`s), and the same error positions
//! and paths (`tests/chat_request_parse.rs` holds the derive's recorded results). The one
//! difference: an unknown member holding serde_json's private raw-value marker key with a
//! non-string value is refused with the same message, but at its own path and position instead
//! of the enclosing object's (the derive only met it when converting its buffered copy).
//!
//! Must not: change what any input parses to or which error it gets (the corpus test is the
//! judge; the one difference above is documented there); support serde attributes that change
//! deserialisation (`rename`, `alias`, `default` on a non-`Option`, `deserialize_with`) — a
//! field's JSON name is its Rust name, and attributes on fields are passed to the struct (for
//! `Serialize`) only. Serialisation stays derived (`#[serde(flatten)]` on `extra` is then a
//! serialisation attribute alone).

/// The value a member takes when it is absent, as serde's derive decides for a field without
/// `#[serde(default)]`: `None` for an `Option`; no value for the required types, which makes the
/// parse fail with `missing field`. A field type without an impl does not compile, so every new
/// field is one or the other on purpose.
pub(crate) trait Absent: Sized {
    /// `None` when the member is required.
    fn absent() -> Option<Self>;
}

impl<T> Absent for Option<T> {
    #[inline]
    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// Types that are required members wherever they are used.
macro_rules! required {
    ($($ty:ty),*) => {
        $(impl Absent for $ty {
            #[inline]
            fn absent() -> Option<Self> {
                None
            }
        })*
    };
}

required!(String, super::Role);

// Generic, so outside `required!`.
impl<T> Absent for Vec<T> {
    #[inline]
    fn absent() -> Option<Self> {
        None
    }
}

/// Declares `pub struct Name { pub field: Type, ..., pub extra: JsonMap }` (attributes passed
/// through) and its one-pass `Deserialize`: known members by name, every other member into
/// `extra` in arrival order. Input: the struct without `extra`, then `extra`'s attributes and
/// `pub extra: JsonMap;` after it (`extra` is always the last field, as serialisation needs). See
/// the module documentation for what it reproduces and forbids.
macro_rules! open_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $ty:ty,
            )*
        }
        $(#[$extra_meta:meta])*
        pub extra: JsonMap;
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
            $(#[$extra_meta])*
            pub extra: JsonMap,
        }

        const _: () = {
            use serde::de::{Deserializer, Error, MapAccess, Visitor};
            use std::fmt;

            /// A member name: one of the fields, or an unknown one (owned: it becomes a key of
            /// `extra`).
            #[allow(non_camel_case_types)]
            enum Field {
                $($field,)*
                Unknown(String),
            }

            struct FieldVisitor;

            impl<'de> Visitor<'de> for FieldVisitor {
                type Value = Field;

                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("field identifier")
                }

                fn visit_str<E: Error>(self, name: &str) -> Result<Field, E> {
                    Ok(match name {
                        $(stringify!($field) => Field::$field,)*
                        _ => Field::Unknown(name.to_owned()),
                    })
                }

                fn visit_string<E: Error>(self, name: String) -> Result<Field, E> {
                    Ok(match name.as_str() {
                        $(stringify!($field) => Field::$field,)*
                        _ => Field::Unknown(name),
                    })
                }
            }

            impl<'de> Deserialize<'de> for Field {
                fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                    deserializer.deserialize_identifier(FieldVisitor)
                }
            }

            struct StructVisitor;

            impl<'de> Visitor<'de> for StructVisitor {
                type Value = $name;

                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str(concat!("struct ", stringify!($name)))
                }

                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                    $(let mut $field: Option<$ty> = None;)*
                    let mut extra = JsonMap::new();
                    while let Some(key) = map.next_key::<Field>()? {
                        match key {
                            $(Field::$field => {
                                if $field.is_some() {
                                    return Err(A::Error::duplicate_field(stringify!($field)));
                                }
                                $field = Some(map.next_value()?);
                            })*
                            Field::Unknown(name) => {
                                let value: Value = map.next_value()?;
                                extra.insert(name, value);
                            }
                        }
                    }
                    $(
                        let $field = match $field {
                            Some(value) => value,
                            None => match <$ty as $crate::openai::de::Absent>::absent() {
                                Some(value) => value,
                                None => {
                                    return Err(A::Error::missing_field(stringify!($field)));
                                }
                            },
                        };
                    )*
                    Ok($name { $($field,)* extra })
                }
            }

            impl<'de> Deserialize<'de> for $name {
                fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                    deserializer.deserialize_map(StructVisitor)
                }
            }
        };
    };
}

pub(crate) use open_struct;

/// `MessageContent` as serde's untagged derive parses it, without its buffering where that cannot
/// matter: a string becomes `Text` straight from the parser, a number, bool or null fails at
/// once; a list or an object still goes through the derive (buffered, every part tried), since
/// which error a malformed list gets depends on the whole of it. Every failure to match is the
/// derive's `data did not match any variant of untagged enum MessageContent`, raised after the
/// value was consumed, so it carries the same position and path as before.
mod message_content {
    use super::super::{ContentPart, MessageContent};
    use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
    use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    const NO_MATCH: &str = "data did not match any variant of untagged enum MessageContent";

    /// The derive's fallback for lists and objects (`Text` cannot match either).
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Parts {
        Parts(Vec<ContentPart>),
    }

    const PARTS_NO_MATCH: &str = "data did not match any variant of untagged enum Parts";

    /// `Ok(None)`: the value was read whole and matches no variant.
    fn parts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MessageContent>, D::Error> {
        match Parts::deserialize(d) {
            Ok(Parts::Parts(parts)) => Ok(Some(MessageContent::Parts(parts))),
            // The derive's own error has no position; parse errors always have one.
            Err(e) if e.to_string() == PARTS_NO_MATCH => Ok(None),
            Err(e) => Err(e),
        }
    }

    struct ContentVisitor;

    impl<'de> Visitor<'de> for ContentVisitor {
        type Value = Option<MessageContent>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a list of content parts")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(MessageContent::Text(text.to_owned())))
        }

        fn visit_string<E: Error>(self, text: String) -> Result<Self::Value, E> {
            Ok(Some(MessageContent::Text(text)))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            parts(SeqAccessDeserializer::new(seq))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            parts(MapAccessDeserializer::new(map))
        }

        fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    impl<'de> Deserialize<'de> for MessageContent {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            match deserializer.deserialize_any(ContentVisitor)? {
                Some(content) => Ok(content),
                None => Err(D::Error::custom(NO_MATCH)),
            }
        }
    }
}
