//! A macro for the string enums of the app object (`tls`, `proxy_protocol`, ...): exact wire spelling both ways.

/// Declares a fieldless enum whose variants have one exact wire spelling each.
/// Parsing is case-sensitive on purpose: Spectra echoes values verbatim, so it only accepts the
/// canonical spelling, and the error lists it.
macro_rules! choice {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the exact wire spelling; `field` names the field in the error.
            pub fn parse_field(value: &str, field: &str) -> Result<Self, $crate::Invalid> {
                Self::ALL.iter().copied().find(|v| v.as_str() == value).ok_or_else(|| {
                    let choices: Vec<String> =
                        Self::ALL.iter().map(|v| format!("\"{}\"", v.as_str())).collect();
                    $crate::Invalid::new(
                        $crate::codes::INVALID_FIELD,
                        format!("{field}: \"{value}\" is not one of {}", choices.join(", ")),
                    )
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

pub(crate) use choice;
