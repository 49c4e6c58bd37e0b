//! DynamoDB's enumerations: billing mode, key type, scalar attribute type, projection type,
//! stream view type, SSE type and the statuses of tables, indexes and replicas.
//!
//! Each serializes as DynamoDB's own name (`"PAY_PER_REQUEST"`, `"S"`, ...), in the catalog's
//! stored table JSON and on the wire alike. `NAMES` lists the names in the order DynamoDB's
//! "Member must satisfy enum value set: [...]" messages show them.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! dynamodb_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// DynamoDB's names of the values, in the order its validation messages list them.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// DynamoDB's name of the value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value DynamoDB names `name` (exactly, case-sensitive).
            pub fn parse(name: &str) -> Option<$name> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

dynamodb_enum! {
    /// BillingMode.
    BillingMode {
        Provisioned = "PROVISIONED",
        PayPerRequest = "PAY_PER_REQUEST",
    }
}

dynamodb_enum! {
    /// KeySchemaElement's KeyType.
    KeyType {
        Hash = "HASH",
        Range = "RANGE",
    }
}

dynamodb_enum! {
    /// ScalarAttributeType: the type of a key attribute.
    ScalarType {
        B = "B",
        N = "N",
        S = "S",
    }
}

dynamodb_enum! {
    /// Projection's ProjectionType.
    ProjectionType {
        All = "ALL",
        KeysOnly = "KEYS_ONLY",
        Include = "INCLUDE",
    }
}

dynamodb_enum! {
    /// StreamSpecification's StreamViewType.
    StreamViewType {
        NewImage = "NEW_IMAGE",
        OldImage = "OLD_IMAGE",
        NewAndOldImages = "NEW_AND_OLD_IMAGES",
        KeysOnly = "KEYS_ONLY",
    }
}

impl StreamViewType {
    /// Whether a record of this stream carries the item after the change.
    pub fn has_new_image(self) -> bool {
        matches!(
            self,
            StreamViewType::NewImage | StreamViewType::NewAndOldImages
        )
    }

    /// Whether a record of this stream carries the item before the change.
    pub fn has_old_image(self) -> bool {
        matches!(
            self,
            StreamViewType::OldImage | StreamViewType::NewAndOldImages
        )
    }
}

dynamodb_enum! {
    /// SSESpecification's SSEType.
    SseType {
        Aes256 = "AES256",
        Kms = "KMS",
    }
}

dynamodb_enum! {
    /// TableStatus as DescribeTable and the other table operations show it.
    TableStatus {
        Creating = "CREATING",
        Updating = "UPDATING",
        Deleting = "DELETING",
        Active = "ACTIVE",
    }
}

dynamodb_enum! {
    /// IndexStatus of a global secondary index: CREATING while it is backfilled.
    IndexStatus {
        Creating = "CREATING",
        Updating = "UPDATING",
        Deleting = "DELETING",
        Active = "ACTIVE",
    }
}

dynamodb_enum! {
    /// ReplicaStatus of a global table's replica: CREATING until its backfill is applied.
    ReplicaStatus {
        Creating = "CREATING",
        Updating = "UPDATING",
        Deleting = "DELETING",
        Active = "ACTIVE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        for name in StreamViewType::NAMES {
            let v = StreamViewType::parse(name).expect("a view type");
            assert_eq!(v.as_str(), *name);
            assert_eq!(
                serde_json::to_string(&v).expect("json"),
                format!("\"{name}\"")
            );
        }
        assert_eq!(SseType::NAMES, &["AES256", "KMS"]);
        assert_eq!(ScalarType::NAMES, &["B", "N", "S"]);
        assert_eq!(BillingMode::NAMES, &["PROVISIONED", "PAY_PER_REQUEST"]);
        assert_eq!(ProjectionType::parse("all"), None);
    }
}
