//! The difference types: Confluent's names for what changed between two JSON schemas, whether each
//! is compatible under each [`CompatibilityPolicy`], and a sentence for people.

use std::fmt;

use crate::compatibility::CompatibilityPolicy;

/// Whether a difference type is in Confluent's compatible sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// In the STRICT set (and so in the LENIENT one).
    Compatible,
    /// In the LENIENT set only.
    Lenient,
    /// In neither.
    Incompatible,
}

macro_rules! difference_types {
    ($($variant:ident = $name:literal, $verdict:ident;)+) => {
        /// What changed at one place of a schema, by Confluent's names (`as_str`). See the module
        /// docs of [`super`] for the model; [`DifferenceType::is_compatible`] for the verdicts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DifferenceType {
            $($variant,)+
        }

        impl DifferenceType {
            /// Every difference type this crate reports, in Confluent's declaration order.
            pub const ALL: &'static [DifferenceType] = &[$(Self::$variant,)+];

            /// Confluent's name, e.g. `"OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"`.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            fn verdict(&self) -> Verdict {
                match self {
                    $(Self::$variant => Verdict::$verdict,)+
                }
            }
        }
    };
}

difference_types! {
    IdChanged = "ID_CHANGED", Compatible;
    DescriptionChanged = "DESCRIPTION_CHANGED", Compatible;
    TitleChanged = "TITLE_CHANGED", Compatible;
    DefaultChanged = "DEFAULT_CHANGED", Compatible;
    SchemaAdded = "SCHEMA_ADDED", Incompatible;
    SchemaRemoved = "SCHEMA_REMOVED", Compatible;
    TypeExtended = "TYPE_EXTENDED", Compatible;
    TypeNarrowed = "TYPE_NARROWED", Incompatible;
    TypeChanged = "TYPE_CHANGED", Incompatible;

    MaxLengthAdded = "MAX_LENGTH_ADDED", Incompatible;
    MaxLengthRemoved = "MAX_LENGTH_REMOVED", Compatible;
    MaxLengthIncreased = "MAX_LENGTH_INCREASED", Compatible;
    MaxLengthDecreased = "MAX_LENGTH_DECREASED", Incompatible;
    MinLengthAdded = "MIN_LENGTH_ADDED", Incompatible;
    MinLengthRemoved = "MIN_LENGTH_REMOVED", Compatible;
    MinLengthIncreased = "MIN_LENGTH_INCREASED", Incompatible;
    MinLengthDecreased = "MIN_LENGTH_DECREASED", Compatible;
    PatternAdded = "PATTERN_ADDED", Incompatible;
    PatternRemoved = "PATTERN_REMOVED", Compatible;
    PatternChanged = "PATTERN_CHANGED", Incompatible;

    MaximumAdded = "MAXIMUM_ADDED", Incompatible;
    MaximumRemoved = "MAXIMUM_REMOVED", Compatible;
    MaximumIncreased = "MAXIMUM_INCREASED", Compatible;
    MaximumDecreased = "MAXIMUM_DECREASED", Incompatible;
    MinimumAdded = "MINIMUM_ADDED", Incompatible;
    MinimumRemoved = "MINIMUM_REMOVED", Compatible;
    MinimumIncreased = "MINIMUM_INCREASED", Incompatible;
    MinimumDecreased = "MINIMUM_DECREASED", Compatible;
    ExclusiveMaximumAdded = "EXCLUSIVE_MAXIMUM_ADDED", Incompatible;
    ExclusiveMaximumRemoved = "EXCLUSIVE_MAXIMUM_REMOVED", Compatible;
    ExclusiveMaximumIncreased = "EXCLUSIVE_MAXIMUM_INCREASED", Compatible;
    ExclusiveMaximumDecreased = "EXCLUSIVE_MAXIMUM_DECREASED", Incompatible;
    ExclusiveMinimumAdded = "EXCLUSIVE_MINIMUM_ADDED", Incompatible;
    ExclusiveMinimumRemoved = "EXCLUSIVE_MINIMUM_REMOVED", Compatible;
    ExclusiveMinimumIncreased = "EXCLUSIVE_MINIMUM_INCREASED", Incompatible;
    ExclusiveMinimumDecreased = "EXCLUSIVE_MINIMUM_DECREASED", Compatible;
    MultipleOfAdded = "MULTIPLE_OF_ADDED", Incompatible;
    MultipleOfRemoved = "MULTIPLE_OF_REMOVED", Compatible;
    MultipleOfExpanded = "MULTIPLE_OF_EXPANDED", Incompatible;
    MultipleOfReduced = "MULTIPLE_OF_REDUCED", Compatible;
    MultipleOfChanged = "MULTIPLE_OF_CHANGED", Incompatible;

    RequiredAttributeAdded = "REQUIRED_ATTRIBUTE_ADDED", Incompatible;
    RequiredAttributeWithDefaultAdded = "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", Compatible;
    RequiredAttributeRemoved = "REQUIRED_ATTRIBUTE_REMOVED", Compatible;
    MaxPropertiesAdded = "MAX_PROPERTIES_ADDED", Incompatible;
    MaxPropertiesRemoved = "MAX_PROPERTIES_REMOVED", Compatible;
    MaxPropertiesIncreased = "MAX_PROPERTIES_INCREASED", Compatible;
    MaxPropertiesDecreased = "MAX_PROPERTIES_DECREASED", Incompatible;
    MinPropertiesAdded = "MIN_PROPERTIES_ADDED", Incompatible;
    MinPropertiesRemoved = "MIN_PROPERTIES_REMOVED", Compatible;
    MinPropertiesIncreased = "MIN_PROPERTIES_INCREASED", Incompatible;
    MinPropertiesDecreased = "MIN_PROPERTIES_DECREASED", Compatible;
    AdditionalPropertiesAdded = "ADDITIONAL_PROPERTIES_ADDED", Compatible;
    AdditionalPropertiesRemoved = "ADDITIONAL_PROPERTIES_REMOVED", Lenient;
    AdditionalPropertiesExtended = "ADDITIONAL_PROPERTIES_EXTENDED", Compatible;
    AdditionalPropertiesNarrowed = "ADDITIONAL_PROPERTIES_NARROWED", Lenient;
    DependencyArrayAdded = "DEPENDENCY_ARRAY_ADDED", Incompatible;
    DependencyArrayRemoved = "DEPENDENCY_ARRAY_REMOVED", Compatible;
    DependencyArrayExtended = "DEPENDENCY_ARRAY_EXTENDED", Incompatible;
    DependencyArrayNarrowed = "DEPENDENCY_ARRAY_NARROWED", Compatible;
    DependencyArrayChanged = "DEPENDENCY_ARRAY_CHANGED", Incompatible;
    DependencySchemaAdded = "DEPENDENCY_SCHEMA_ADDED", Incompatible;
    DependencySchemaRemoved = "DEPENDENCY_SCHEMA_REMOVED", Compatible;
    RequiredPropertyAddedToOpenContentModel = "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", Incompatible;
    RequiredPropertyWithDefaultAddedToOpenContentModel =
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL", Lenient;
    OptionalPropertyAddedToOpenContentModel = "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", Lenient;
    PropertyWithEmptySchemaAddedToOpenContentModel =
        "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", Compatible;
    RequiredPropertyAddedToUnopenContentModel = "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", Incompatible;
    RequiredPropertyWithDefaultAddedToUnopenContentModel =
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL", Compatible;
    OptionalPropertyAddedToUnopenContentModel = "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", Compatible;
    PropertyRemovedFromOpenContentModel = "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", Compatible;
    PropertyWithFalseRemovedFromClosedContentModel =
        "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", Compatible;
    PropertyRemovedFromClosedContentModel = "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", Lenient;
    PropertyRemovedIsCoveredByPartiallyOpenContentModel =
        "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", Compatible;
    PropertyRemovedNotCoveredByPartiallyOpenContentModel =
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", Lenient;
    PropertyAddedIsCoveredByPartiallyOpenContentModel =
        "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", Compatible;
    PropertyAddedNotCoveredByPartiallyOpenContentModel =
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", Lenient;
    UnevaluatedPropertiesAdded = "UNEVALUATED_PROPERTIES_ADDED", Compatible;
    UnevaluatedPropertiesRemoved = "UNEVALUATED_PROPERTIES_REMOVED", Lenient;
    UnevaluatedPropertiesExtended = "UNEVALUATED_PROPERTIES_EXTENDED", Compatible;
    UnevaluatedPropertiesNarrowed = "UNEVALUATED_PROPERTIES_NARROWED", Lenient;

    MaxItemsAdded = "MAX_ITEMS_ADDED", Incompatible;
    MaxItemsRemoved = "MAX_ITEMS_REMOVED", Compatible;
    MaxItemsIncreased = "MAX_ITEMS_INCREASED", Compatible;
    MaxItemsDecreased = "MAX_ITEMS_DECREASED", Incompatible;
    MinItemsAdded = "MIN_ITEMS_ADDED", Incompatible;
    MinItemsRemoved = "MIN_ITEMS_REMOVED", Compatible;
    MinItemsIncreased = "MIN_ITEMS_INCREASED", Incompatible;
    MinItemsDecreased = "MIN_ITEMS_DECREASED", Compatible;
    MaxContainsAdded = "MAX_CONTAINS_ADDED", Incompatible;
    MaxContainsRemoved = "MAX_CONTAINS_REMOVED", Compatible;
    MaxContainsIncreased = "MAX_CONTAINS_INCREASED", Compatible;
    MaxContainsDecreased = "MAX_CONTAINS_DECREASED", Incompatible;
    MinContainsAdded = "MIN_CONTAINS_ADDED", Incompatible;
    MinContainsRemoved = "MIN_CONTAINS_REMOVED", Compatible;
    MinContainsIncreased = "MIN_CONTAINS_INCREASED", Incompatible;
    MinContainsDecreased = "MIN_CONTAINS_DECREASED", Compatible;
    UniqueItemsAdded = "UNIQUE_ITEMS_ADDED", Incompatible;
    UniqueItemsRemoved = "UNIQUE_ITEMS_REMOVED", Compatible;
    AdditionalItemsAdded = "ADDITIONAL_ITEMS_ADDED", Compatible;
    AdditionalItemsRemoved = "ADDITIONAL_ITEMS_REMOVED", Incompatible;
    AdditionalItemsExtended = "ADDITIONAL_ITEMS_EXTENDED", Compatible;
    AdditionalItemsNarrowed = "ADDITIONAL_ITEMS_NARROWED", Incompatible;
    UnevaluatedItemsAdded = "UNEVALUATED_ITEMS_ADDED", Compatible;
    UnevaluatedItemsRemoved = "UNEVALUATED_ITEMS_REMOVED", Incompatible;
    UnevaluatedItemsExtended = "UNEVALUATED_ITEMS_EXTENDED", Compatible;
    UnevaluatedItemsNarrowed = "UNEVALUATED_ITEMS_NARROWED", Incompatible;
    ItemAddedToOpenContentModel = "ITEM_ADDED_TO_OPEN_CONTENT_MODEL", Incompatible;
    ItemWithEmptySchemaAddedToOpenContentModel = "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", Compatible;
    ItemAddedToClosedContentModel = "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", Compatible;
    ItemRemovedFromOpenContentModel = "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", Compatible;
    ItemWithFalseRemovedFromClosedContentModel = "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", Compatible;
    ItemRemovedFromClosedContentModel = "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", Incompatible;
    ItemRemovedIsCoveredByPartiallyOpenContentModel =
        "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", Compatible;
    ItemRemovedNotCoveredByPartiallyOpenContentModel =
        "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", Incompatible;
    ItemAddedIsCoveredByPartiallyOpenContentModel =
        "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", Compatible;
    ItemAddedNotCoveredByPartiallyOpenContentModel =
        "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", Incompatible;

    EnumArrayExtended = "ENUM_ARRAY_EXTENDED", Compatible;
    EnumArrayNarrowed = "ENUM_ARRAY_NARROWED", Incompatible;
    EnumArrayChanged = "ENUM_ARRAY_CHANGED", Incompatible;

    CombinedTypeExtended = "COMBINED_TYPE_EXTENDED", Compatible;
    CombinedTypeChanged = "COMBINED_TYPE_CHANGED", Incompatible;
    ProductTypeExtended = "PRODUCT_TYPE_EXTENDED", Incompatible;
    ProductTypeNarrowed = "PRODUCT_TYPE_NARROWED", Compatible;
    SumTypeExtended = "SUM_TYPE_EXTENDED", Compatible;
    SumTypeNarrowed = "SUM_TYPE_NARROWED", Incompatible;
    CombinedTypeSubschemasChanged = "COMBINED_TYPE_SUBSCHEMAS_CHANGED", Incompatible;
    NotTypeExtended = "NOT_TYPE_EXTENDED", Incompatible;
    NotTypeNarrowed = "NOT_TYPE_NARROWED", Compatible;

    UnresolvedReference = "UNRESOLVED_REFERENCE", Incompatible;
    ComparisonLimitReached = "COMPARISON_LIMIT_REACHED", Incompatible;
}

impl DifferenceType {
    /// Whether this change keeps a schema compatible under `policy` (Confluent's
    /// `COMPATIBLE_CHANGES_STRICT` and `COMPATIBLE_CHANGES_LENIENT` sets; the two Murron-only types
    /// are never compatible).
    pub fn is_compatible(&self, policy: CompatibilityPolicy) -> bool {
        match self.verdict() {
            Verdict::Compatible => true,
            Verdict::Lenient => policy == CompatibilityPolicy::Lenient,
            Verdict::Incompatible => false,
        }
    }

    /// A sentence for people about a difference at `path`, naming the two schemas by `original` and
    /// `update` (e.g. "old schema" and "new schema"). Confluent's own sentences are not reproduced.
    pub fn describe(&self, path: &str, original: &str, update: &str) -> String {
        use DifferenceType::*;
        let (o, u) = (original, update);
        match self {
            IdChanged | DescriptionChanged | TitleChanged | DefaultChanged => {
                format!("an annotation at '{path}' differs between the {o} and the {u}")
            }
            SchemaAdded => format!("the {u} constrains '{path}', which the {o} leaves free"),
            SchemaRemoved => format!("the {u} no longer constrains '{path}'"),
            TypeExtended => format!("the {u} accepts more numbers at '{path}' than the {o}"),
            TypeNarrowed => format!("the {u} accepts only integers at '{path}' where the {o} accepts any number"),
            TypeChanged | CombinedTypeChanged | CombinedTypeSubschemasChanged | EnumArrayChanged => {
                format!("the type at '{path}' in the {u} does not accept what the {o} accepts there")
            }
            UnresolvedReference => format!("a $ref at '{path}' cannot be resolved, so the schemas cannot be compared"),
            ComparisonLimitReached => {
                format!("the schemas are too deep or too complex to compare at '{path}' within this registry's limits")
            }
            _ => self.describe_content(path, o, u),
        }
    }

    fn describe_content(&self, path: &str, o: &str, u: &str) -> String {
        use DifferenceType::*;
        match self {
            RequiredPropertyAddedToOpenContentModel
            | RequiredPropertyWithDefaultAddedToOpenContentModel
            | OptionalPropertyAddedToOpenContentModel
            | ItemAddedToOpenContentModel => {
                format!("the {u} declares '{path}', which the {o} does not declare although it allows any value there")
            }
            PropertyWithEmptySchemaAddedToOpenContentModel | ItemWithEmptySchemaAddedToOpenContentModel => {
                format!("the {u} declares '{path}' with a schema that accepts anything")
            }
            RequiredPropertyAddedToUnopenContentModel | RequiredAttributeAdded => {
                format!("the {u} requires '{path}' without a default, and the {o} does not require it")
            }
            RequiredPropertyWithDefaultAddedToUnopenContentModel
            | OptionalPropertyAddedToUnopenContentModel
            | ItemAddedToClosedContentModel => {
                format!("the {u} declares '{path}', which the {o}'s closed content model never allows")
            }
            PropertyRemovedFromOpenContentModel | ItemRemovedFromOpenContentModel => {
                format!("the {u} no longer declares '{path}' and allows any value there")
            }
            PropertyWithFalseRemovedFromClosedContentModel | ItemWithFalseRemovedFromClosedContentModel => {
                format!("the {u} no longer declares '{path}', which the {o} never allowed")
            }
            PropertyRemovedFromClosedContentModel | ItemRemovedFromClosedContentModel => {
                format!("the {u} has a closed content model that no longer allows '{path}', declared in the {o}")
            }
            PropertyRemovedIsCoveredByPartiallyOpenContentModel
            | ItemRemovedIsCoveredByPartiallyOpenContentModel
            | PropertyAddedIsCoveredByPartiallyOpenContentModel
            | ItemAddedIsCoveredByPartiallyOpenContentModel => {
                format!(
                    "'{path}' is declared in one schema only, and the other's partially open content model accepts it"
                )
            }
            PropertyRemovedNotCoveredByPartiallyOpenContentModel | ItemRemovedNotCoveredByPartiallyOpenContentModel => {
                format!(
                    "the {u} no longer declares '{path}', and its partially open content model does not accept what the {o} declared"
                )
            }
            PropertyAddedNotCoveredByPartiallyOpenContentModel | ItemAddedNotCoveredByPartiallyOpenContentModel => {
                format!("the {u} declares '{path}' in a way the {o}'s partially open content model does not accept")
            }
            _ => self.describe_keyword(path, o, u),
        }
    }

    fn describe_keyword(&self, path: &str, o: &str, u: &str) -> String {
        use DifferenceType::*;
        match self {
            MaxLengthAdded
            | MinLengthAdded
            | PatternAdded
            | MaximumAdded
            | MinimumAdded
            | ExclusiveMaximumAdded
            | ExclusiveMinimumAdded
            | MultipleOfAdded
            | MaxPropertiesAdded
            | MinPropertiesAdded
            | MaxItemsAdded
            | MinItemsAdded
            | MaxContainsAdded
            | MinContainsAdded
            | UniqueItemsAdded
            | DependencyArrayAdded
            | DependencySchemaAdded => format!("the {u} adds the constraint '{path}', absent from the {o}"),
            MaxLengthRemoved
            | MinLengthRemoved
            | PatternRemoved
            | MaximumRemoved
            | MinimumRemoved
            | ExclusiveMaximumRemoved
            | ExclusiveMinimumRemoved
            | MultipleOfRemoved
            | MaxPropertiesRemoved
            | MinPropertiesRemoved
            | MaxItemsRemoved
            | MinItemsRemoved
            | MaxContainsRemoved
            | MinContainsRemoved
            | UniqueItemsRemoved
            | DependencyArrayRemoved
            | DependencySchemaRemoved
            | RequiredAttributeRemoved => {
                format!("the {u} drops the constraint '{path}' of the {o}")
            }
            RequiredAttributeWithDefaultAdded => format!("the {u} requires '{path}', which has a default"),
            MinLengthIncreased
            | MinimumIncreased
            | ExclusiveMinimumIncreased
            | MinPropertiesIncreased
            | MinItemsIncreased
            | MinContainsIncreased
            | MultipleOfExpanded => {
                format!("the lower bound '{path}' is higher in the {u} than in the {o}")
            }
            MaxLengthDecreased
            | MaximumDecreased
            | ExclusiveMaximumDecreased
            | MaxPropertiesDecreased
            | MaxItemsDecreased
            | MaxContainsDecreased => {
                format!("the upper bound '{path}' is lower in the {u} than in the {o}")
            }
            MaxLengthIncreased
            | MaximumIncreased
            | ExclusiveMaximumIncreased
            | MaxPropertiesIncreased
            | MaxItemsIncreased
            | MaxContainsIncreased => format!("the {u} raises the upper bound '{path}'"),
            MinLengthDecreased
            | MinimumDecreased
            | ExclusiveMinimumDecreased
            | MinPropertiesDecreased
            | MinItemsDecreased
            | MinContainsDecreased
            | MultipleOfReduced => {
                format!("the {u} lowers the lower bound '{path}'")
            }
            PatternChanged | MultipleOfChanged | DependencyArrayChanged => {
                format!("the value of '{path}' differs between the {o} and the {u}")
            }
            DependencyArrayExtended => format!("the dependency '{path}' requires more properties in the {u}"),
            DependencyArrayNarrowed => format!("the dependency '{path}' requires fewer properties in the {u}"),
            _ => self.describe_shape(path, o, u),
        }
    }

    fn describe_shape(&self, path: &str, o: &str, u: &str) -> String {
        use DifferenceType::*;
        match self {
            AdditionalPropertiesAdded | AdditionalItemsAdded | UnevaluatedPropertiesAdded | UnevaluatedItemsAdded => {
                format!("the {u} opens '{path}', which the {o} forbids")
            }
            AdditionalPropertiesRemoved
            | AdditionalItemsRemoved
            | UnevaluatedPropertiesRemoved
            | UnevaluatedItemsRemoved => format!("the {u} forbids '{path}', which the {o} allows"),
            AdditionalPropertiesExtended
            | AdditionalItemsExtended
            | UnevaluatedPropertiesExtended
            | UnevaluatedItemsExtended => format!("the {u} accepts anything at '{path}'"),
            AdditionalPropertiesNarrowed
            | AdditionalItemsNarrowed
            | UnevaluatedPropertiesNarrowed
            | UnevaluatedItemsNarrowed => format!("the {u} constrains '{path}', which accepts anything in the {o}"),
            EnumArrayExtended => format!("the {u} allows more values at '{path}'"),
            EnumArrayNarrowed => format!("the {u} allows fewer values at '{path}' than the {o}"),
            CombinedTypeExtended => format!("the {u} combines the subschemas at '{path}' more loosely"),
            ProductTypeExtended => format!("the {u} adds an allOf subschema at '{path}'"),
            ProductTypeNarrowed => format!("the {u} drops an allOf subschema at '{path}'"),
            SumTypeExtended => format!("the {u} accepts more alternatives at '{path}'"),
            SumTypeNarrowed => format!("the {u} accepts fewer alternatives at '{path}' than the {o}"),
            NotTypeExtended => format!("the {u} excludes more at '{path}' than the {o}"),
            NotTypeNarrowed => format!("the {u} excludes less at '{path}'"),
            _ => format!("'{path}' differs between the {o} and the {u}"),
        }
    }
}

impl fmt::Display for DifferenceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
