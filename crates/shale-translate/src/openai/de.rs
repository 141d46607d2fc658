//! One-pass deserialisation for the OpenAI request structs that keep unknown members in `extra`.
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
//! Must not: support serde attributes that change deserialisation (`rename`, `alias`,
//! `default` on a non-`Option`, `deserialize_with`); a field's JSON name is its Rust name, and
//! attributes on fields are passed to the struct (for `Serialize`) only. Serialisation stays
//! derived (`#[serde(flatten)]` on `extra` is then a serialisation attribute alone).

use serde::de::{Deserializer, Error, Visitor};
use std::marker::PhantomData;

/// The value of a member that is absent: `None` for an `Option`, else the `missing field`
/// error (what serde's derive does for a field without `#[serde(default)]`).
pub(crate) struct Missing<E> {
    field: &'static str,
    error: PhantomData<E>,
}

impl<E> Missing<E> {
    pub(crate) fn field(field: &'static str) -> Self {
        Missing {
            field,
            error: PhantomData,
        }
    }
}

impl<'de, E: Error> Deserializer<'de> for Missing<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, E> {
        Err(E::missing_field(self.field))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_none()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
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
                            None => <$ty as Deserialize>::deserialize(
                                $crate::openai::de::Missing::<A::Error>::field(stringify!($field)),
                            )?,
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
