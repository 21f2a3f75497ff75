//! The reader/writer resolution walk behind [`super::can_read`].
//!
//! The walk produces [`Finding`]s, which hold data rather than sentences so that the same finding can
//! be worded for "reader/writer" ([`super::can_read`]) or "new/old" ([`super::check`]) and moved to
//! another path when a cached result is reused.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use apache_avro::Schema;
use apache_avro::schema::{
    Aliases, EnumSchema, FixedSchema, InnerDecimalSchema, Name, RecordSchema, UnionSchema, UuidSchema,
};

use crate::compatibility::{Incompatibility, IncompatibilityKind};

/// At most this many findings per comparison: a schema that references one bad type from many places
/// would otherwise report it once per path, which can be exponentially many.
pub(super) const MAX_FINDINGS: usize = 1000;

/// How the reader and the writer schema are called in messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Roles {
    pub reader: &'static str,
    pub writer: &'static str,
}

/// Every reason `writer`'s data cannot be read with `reader`.
pub(super) fn resolve(reader: &Schema, writer: &Schema) -> Vec<Finding> {
    let mut checker = Checker {
        reader_root: reader,
        writer_root: writer,
        reader_names: None,
        writer_names: None,
        path: String::new(),
        in_progress: Vec::new(),
        deps: BTreeSet::new(),
        memo: HashMap::new(),
        provisional: Vec::new(),
    };
    let mut out = Vec::new();
    checker.compare_into(reader, writer, &mut out);
    out
}

/// Whether `reader_type`, a field type of the record `reader_root`, reads `writer_type`, a field type of
/// the record `writer_root`, as the comparison of the two records would find: the pair of records is in
/// progress, so a reference back to it is assumed compatible, as there.
pub(super) fn field_reads(
    reader_root: &Schema,
    reader_type: &Schema,
    writer_root: &Schema,
    writer_type: &Schema,
) -> bool {
    let (Schema::Record(r), Schema::Record(w)) = (reader_root, writer_root) else {
        return false;
    };
    let mut checker = Checker {
        reader_root,
        writer_root,
        reader_names: None,
        writer_names: None,
        path: String::new(),
        in_progress: vec![(&r.name, &w.name)],
        deps: BTreeSet::new(),
        memo: HashMap::new(),
        provisional: Vec::new(),
    };
    let mut out = Vec::new();
    checker.compare_into(reader_type, writer_type, &mut out);
    out.is_empty()
}

/// One incompatibility, before it is worded.
#[derive(Debug, Clone)]
pub(super) struct Finding {
    kind: IncompatibilityKind,
    /// Path in the reader schema; the root is the empty string here and "/" once rendered.
    path: String,
    detail: Detail,
}

#[derive(Debug, Clone)]
enum Detail {
    TypeMismatch {
        reader: String,
        writer: String,
    },
    NameMismatch {
        what: &'static str,
        reader: String,
        writer: String,
    },
    FixedSize {
        name: String,
        reader: usize,
        writer: usize,
    },
    MissingEnumSymbols {
        name: String,
        symbols: Vec<String>,
    },
    MissingUnionBranch {
        writer_type: String,
        writer_branch: Option<usize>,
        closest: Option<Box<Closest>>,
    },
    MissingDefault {
        field: String,
    },
    DecimalAttribute {
        attribute: &'static str,
        reader: usize,
        writer: usize,
    },
    DecimalKind {
        reader: String,
        writer: String,
    },
    UnresolvedReference {
        side: Side,
        name: String,
    },
}

/// The reader union branch that looked like the right one but failed: it explains a missing branch.
#[derive(Debug, Clone)]
struct Closest {
    index: usize,
    reader_type: String,
    first: Finding,
    more: usize,
}

impl Finding {
    /// Words the finding, calling the two schemas by `roles`.
    pub(super) fn render(&self, roles: Roles) -> Incompatibility {
        let path = display_path(&self.path);
        let Roles { reader: r, writer: w } = roles;
        let message = match &self.detail {
            Detail::TypeMismatch { reader, writer } => {
                format!("The {r} has type {reader} at path '{path}', which cannot read the {w}'s type {writer}")
            }
            Detail::NameMismatch { what, reader, writer } => format!(
                "The {what} name at path '{path}' is '{reader}' in the {r} but '{writer}' in the {w}, \
                 and no alias of the {r}'s {what} matches it"
            ),
            Detail::FixedSize { name, reader, writer } => {
                format!("The size of fixed '{name}' at path '{path}' is {reader} in the {r} but {writer} in the {w}")
            }
            Detail::MissingEnumSymbols { name, symbols } => format!(
                "The {r} is missing enum symbols '[{}]' at path '{path}' that the {w} has, and its enum '{name}' \
                 has no default",
                symbols.join(", ")
            ),
            Detail::MissingUnionBranch {
                writer_type,
                writer_branch,
                closest,
            } => {
                let mut message =
                    format!("The {r}'s union at path '{path}' has no branch that reads the {w}'s type {writer_type}");
                if let Some(index) = writer_branch {
                    message.push_str(&format!(" (branch {index} of the {w}'s union)"));
                }
                if let Some(c) = closest {
                    let cause = c.first.render(roles);
                    message.push_str(&format!(
                        "; its closest branch {} ({}) fails with {} at '{}': {}",
                        c.index, c.reader_type, cause.kind, cause.path, cause.message
                    ));
                    if c.more > 0 {
                        message.push_str(&format!(" (and {} more)", c.more));
                    }
                }
                message
            }
            Detail::MissingDefault { field } => format!(
                "The field '{field}' at path '{path}' in the {r} has no default value and is missing in the {w}"
            ),
            Detail::DecimalAttribute {
                attribute,
                reader,
                writer,
            } => format!(
                "The decimal {attribute} at path '{path}' is {reader} in the {r} but {writer} in the {w}; \
                 decimals match only with equal precision and scale"
            ),
            Detail::DecimalKind { reader, writer } => format!(
                "The {r} has type {reader} at path '{path}', which cannot read the {w}'s type {writer}: \
                 big-decimal values carry their own scale, decimal values do not"
            ),
            Detail::UnresolvedReference { side, name } => {
                let schema = match side {
                    Side::Reader => r,
                    Side::Writer => w,
                };
                format!("The {schema} refers to the named type '{name}' at path '{path}' but does not define it")
            }
        };
        Incompatibility {
            kind: self.kind,
            path: path.to_string(),
            message,
        }
    }

    /// The same finding with the first `old_len` bytes of its paths replaced by `prefix`.
    fn reprefixed(&self, old_len: usize, prefix: &str) -> Finding {
        let mut detail = self.detail.clone();
        if let Detail::MissingUnionBranch { closest: Some(c), .. } = &mut detail {
            c.first = c.first.reprefixed(old_len, prefix);
        }
        Finding {
            kind: self.kind,
            path: format!("{prefix}{}", &self.path[old_len..]),
            detail,
        }
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Reader,
    Writer,
}

/// A schema seen as its Avro physical type: logical types are annotations on it.
#[derive(Debug, Clone, Copy)]
enum Physical<'s> {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(&'s Schema),
    Map(&'s Schema),
    Union(&'s UnionSchema),
    Record(&'s RecordSchema),
    Enum(&'s EnumSchema),
    Fixed(&'s FixedSchema),
}

/// The one logical annotation resolution looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecimalAnnotation {
    Decimal { precision: usize, scale: usize },
    Big,
}

/// A schema with references followed.
#[derive(Debug, Clone, Copy)]
struct View<'s> {
    schema: &'s Schema,
    physical: Physical<'s>,
    decimal: Option<DecimalAnnotation>,
}

/// The physical type and decimal annotation of a schema that is not a reference.
fn physical(schema: &Schema) -> Option<(Physical<'_>, Option<DecimalAnnotation>)> {
    let plain = |p| Some((p, None));
    match schema {
        Schema::Null => plain(Physical::Null),
        Schema::Boolean => plain(Physical::Boolean),
        Schema::Int | Schema::Date | Schema::TimeMillis => plain(Physical::Int),
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => plain(Physical::Long),
        Schema::Float => plain(Physical::Float),
        Schema::Double => plain(Physical::Double),
        Schema::Bytes | Schema::Uuid(UuidSchema::Bytes) => plain(Physical::Bytes),
        Schema::String | Schema::Uuid(UuidSchema::String) => plain(Physical::String),
        Schema::Array(a) => plain(Physical::Array(&a.items)),
        Schema::Map(m) => plain(Physical::Map(&m.types)),
        Schema::Union(u) => plain(Physical::Union(u)),
        Schema::Record(r) => plain(Physical::Record(r)),
        Schema::Enum(e) => plain(Physical::Enum(e)),
        Schema::Fixed(f) | Schema::Uuid(UuidSchema::Fixed(f)) | Schema::Duration(f) => plain(Physical::Fixed(f)),
        Schema::Decimal(d) => {
            let annotation = Some(DecimalAnnotation::Decimal {
                precision: d.precision,
                scale: d.scale,
            });
            match &d.inner {
                InnerDecimalSchema::Bytes => Some((Physical::Bytes, annotation)),
                InnerDecimalSchema::Fixed(f) => Some((Physical::Fixed(f), annotation)),
            }
        }
        Schema::BigDecimal => Some((Physical::Bytes, Some(DecimalAnnotation::Big))),
        Schema::Ref { .. } => None,
    }
}

/// How a schema is named in messages: `int`, `long (timestamp-millis)`, `record 'a.R'`, ...
fn type_name(schema: &Schema) -> String {
    let logical = |physical: &str, logical: &str| format!("{physical} ({logical})");
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int => "int".into(),
        Schema::Long => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes => "bytes".into(),
        Schema::String => "string".into(),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Union(_) => "union".into(),
        Schema::Record(r) => format!("record '{}'", r.name),
        Schema::Enum(e) => format!("enum '{}'", e.name),
        Schema::Fixed(f) => format!("fixed '{}'", f.name),
        Schema::Decimal(d) => {
            let inner = match &d.inner {
                InnerDecimalSchema::Bytes => "bytes".to_string(),
                InnerDecimalSchema::Fixed(f) => format!("fixed '{}'", f.name),
            };
            logical(&inner, &format!("decimal({}, {})", d.precision, d.scale))
        }
        Schema::BigDecimal => logical("bytes", "big-decimal"),
        Schema::Uuid(UuidSchema::Bytes) => logical("bytes", "uuid"),
        Schema::Uuid(UuidSchema::String) => logical("string", "uuid"),
        Schema::Uuid(UuidSchema::Fixed(f)) => logical(&format!("fixed '{}'", f.name), "uuid"),
        Schema::Date => logical("int", "date"),
        Schema::TimeMillis => logical("int", "time-millis"),
        Schema::TimeMicros => logical("long", "time-micros"),
        Schema::TimestampMillis => logical("long", "timestamp-millis"),
        Schema::TimestampMicros => logical("long", "timestamp-micros"),
        Schema::TimestampNanos => logical("long", "timestamp-nanos"),
        Schema::LocalTimestampMillis => logical("long", "local-timestamp-millis"),
        Schema::LocalTimestampMicros => logical("long", "local-timestamp-micros"),
        Schema::LocalTimestampNanos => logical("long", "local-timestamp-nanos"),
        Schema::Duration(f) => logical(&format!("fixed '{}'", f.name), "duration"),
        Schema::Ref { name } => format!("'{name}'"),
    }
}

/// Writer data of physical type `writer` is read by `reader`: equal primitives or a promotion.
fn promotable(reader: Physical<'_>, writer: Physical<'_>) -> bool {
    use Physical as P;
    matches!(
        (reader, writer),
        (P::Null, P::Null)
            | (P::Boolean, P::Boolean)
            | (P::Int, P::Int)
            | (P::Long, P::Long | P::Int)
            | (P::Float, P::Float | P::Long | P::Int)
            | (P::Double, P::Double | P::Float | P::Long | P::Int)
            | (P::Bytes, P::Bytes | P::String)
            | (P::String, P::String | P::Bytes)
    )
}

/// Named types match by unqualified name, or by an alias of the reader's type.
pub(super) fn names_match(reader: &Name, reader_aliases: &Aliases, writer: &Name) -> bool {
    reader.name() == writer.name()
        || reader_aliases
            .iter()
            .flatten()
            .any(|alias| alias.name() == writer.name())
}

/// Every named type a schema defines, by full name and by its aliases' full names (a reference may use
/// either). Logical types on a fixed map to the annotated schema: the annotation belongs to the name.
fn named_types(schema: &Schema) -> HashMap<Name, &Schema> {
    fn define<'s>(name: &Name, aliases: &Aliases, schema: &'s Schema, out: &mut HashMap<Name, &'s Schema>) {
        out.entry(name.clone()).or_insert(schema);
        for alias in aliases.iter().flatten() {
            out.entry(alias.fully_qualified_name(None).into_owned())
                .or_insert(schema);
        }
    }
    fn walk<'s>(schema: &'s Schema, out: &mut HashMap<Name, &'s Schema>) {
        match schema {
            Schema::Record(r) => {
                define(&r.name, &r.aliases, schema, out);
                r.fields.iter().for_each(|f| walk(&f.schema, out));
            }
            Schema::Enum(e) => define(&e.name, &e.aliases, schema, out),
            Schema::Fixed(f) | Schema::Uuid(UuidSchema::Fixed(f)) | Schema::Duration(f) => {
                define(&f.name, &f.aliases, schema, out)
            }
            Schema::Decimal(d) => {
                if let InnerDecimalSchema::Fixed(f) = &d.inner {
                    define(&f.name, &f.aliases, schema, out);
                }
            }
            Schema::Array(a) => walk(&a.items, out),
            Schema::Map(m) => walk(&m.types, out),
            Schema::Union(u) => u.variants().iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = HashMap::new();
    walk(schema, &mut out);
    out
}

/// The writer's field named `name` (by name only: writer aliases do not count). `lookup` is
/// apache-avro's index of names *and aliases*, so a hit is confirmed and an alias hit falls back
/// to a scan; a miss means no field or alias has that name.
///
/// Evolved schemas mostly keep their field order, so the reader's position is tried first: a hit
/// there costs one string comparison instead of a tree lookup (this runs once per field per version
/// in a transitive check).
pub(super) fn writer_field<'s>(writer: &'s RecordSchema, hint: usize, name: &str) -> Option<&'s Schema> {
    if let Some(f) = writer.fields.get(hint)
        && f.name == name
    {
        return Some(&f.schema);
    }
    let index = *writer.lookup.get(name)?;
    match writer.fields.get(index) {
        Some(f) if f.name == name => Some(&f.schema),
        _ => writer.fields.iter().find(|f| f.name == name).map(|f| &f.schema),
    }
}

fn push(out: &mut Vec<Finding>, finding: Finding) {
    if out.len() < MAX_FINDINGS {
        out.push(finding);
    }
}

/// A (reader record, writer record) pair, by full names.
type Pair<'s> = (&'s Name, &'s Name);

/// The cached result of comparing a record pair.
#[derive(Debug)]
struct Memo {
    /// Paths relative to where the pair was compared.
    findings: Vec<Finding>,
    /// Indexes in `in_progress` of the enclosing pairs this result assumed compatible.
    deps: BTreeSet<usize>,
}

/// One resolution walk. Record pairs are where recursion and repetition happen, so they are tracked:
/// a pair met again while in progress is assumed compatible (co-induction) and the assumption recorded
/// in `deps`; finished pairs are cached in `memo`, so a type used in many places is compared once.
/// A cached result that relied on assumptions about enclosing pairs stays valid only while they are in
/// progress, so it is dropped when the innermost of them finishes (`provisional`): inside a union branch
/// that fails, such a result may have been wrong.
struct Checker<'s> {
    reader_root: &'s Schema,
    writer_root: &'s Schema,
    /// Named types of each side, built on the first reference met: most schemas have none, and a
    /// registration checks one new schema against many versions.
    reader_names: Option<HashMap<Name, &'s Schema>>,
    writer_names: Option<HashMap<Name, &'s Schema>>,
    /// The current location in the reader schema.
    path: String,
    in_progress: Vec<Pair<'s>>,
    /// Enclosing pairs (indexes in `in_progress`) the current comparison assumed compatible.
    deps: BTreeSet<usize>,
    memo: HashMap<Pair<'s>, Memo>,
    /// `provisional[i]`: memo keys whose innermost assumption is `in_progress[i]`; dropped when it finishes.
    provisional: Vec<Vec<Pair<'s>>>,
}

impl<'s> Checker<'s> {
    fn view(&mut self, side: Side, schema: &'s Schema) -> Result<View<'s>, Finding> {
        let definition = match schema {
            Schema::Ref { name } => {
                let (names, root) = match side {
                    Side::Reader => (&mut self.reader_names, self.reader_root),
                    Side::Writer => (&mut self.writer_names, self.writer_root),
                };
                names.get_or_insert_with(|| named_types(root)).get(name).copied()
            }
            _ => Some(schema),
        };
        definition
            .and_then(|d| {
                physical(d).map(|(physical, decimal)| View {
                    schema: d,
                    physical,
                    decimal,
                })
            })
            .ok_or_else(|| Finding {
                kind: IncompatibilityKind::UnresolvedReference,
                path: self.path.clone(),
                detail: Detail::UnresolvedReference {
                    side,
                    name: type_name(schema),
                },
            })
    }

    fn describe(&mut self, side: Side, schema: &'s Schema) -> String {
        self.view(side, schema)
            .map_or_else(|_| type_name(schema), |v| type_name(v.schema))
    }

    fn compare(&mut self, reader: &'s Schema, writer: &'s Schema) -> Vec<Finding> {
        let mut out = Vec::new();
        self.compare_into(reader, writer, &mut out);
        out
    }

    /// Appends to `out` every reason `writer`'s data at the current path cannot be read with `reader`.
    fn compare_into(&mut self, reader: &'s Schema, writer: &'s Schema, out: &mut Vec<Finding>) {
        let r = match self.view(Side::Reader, reader) {
            Ok(view) => view,
            Err(finding) => return push(out, finding),
        };
        let w = match self.view(Side::Writer, writer) {
            Ok(view) => view,
            Err(finding) => return push(out, finding),
        };
        use Physical as P;
        match (r.physical, w.physical) {
            (P::Union(reader_union), P::Union(writer_union)) => {
                for (index, branch) in writer_union.variants().iter().enumerate() {
                    if let Err(closest) = self.read_by_some_branch(reader_union, branch) {
                        let detail = Detail::MissingUnionBranch {
                            writer_type: self.describe(Side::Writer, branch),
                            writer_branch: Some(index),
                            closest,
                        };
                        let path = format!("{}/{index}", self.path);
                        push(
                            out,
                            Finding {
                                kind: IncompatibilityKind::MissingUnionBranch,
                                path,
                                detail,
                            },
                        );
                    }
                }
            }
            // Whichever branch the writer used, the reader must read it.
            (_, P::Union(writer_union)) => {
                for branch in writer_union.variants() {
                    self.compare_into(reader, branch, out);
                }
            }
            (P::Union(reader_union), _) => {
                if let Err(closest) = self.read_by_some_branch(reader_union, writer) {
                    let detail = Detail::MissingUnionBranch {
                        writer_type: type_name(w.schema),
                        writer_branch: None,
                        closest,
                    };
                    let path = self.path.clone();
                    push(
                        out,
                        Finding {
                            kind: IncompatibilityKind::MissingUnionBranch,
                            path,
                            detail,
                        },
                    );
                }
            }
            (P::Record(reader_record), P::Record(writer_record)) => self.records(reader_record, writer_record, out),
            (P::Enum(reader_enum), P::Enum(writer_enum)) => {
                self.names(
                    "enum",
                    (&reader_enum.name, &reader_enum.aliases),
                    &writer_enum.name,
                    out,
                );
                self.symbols(reader_enum, writer_enum, out);
            }
            (P::Fixed(reader_fixed), P::Fixed(writer_fixed)) => {
                self.names(
                    "fixed",
                    (&reader_fixed.name, &reader_fixed.aliases),
                    &writer_fixed.name,
                    out,
                );
                if reader_fixed.size != writer_fixed.size {
                    let detail = Detail::FixedSize {
                        name: reader_fixed.name.to_string(),
                        reader: reader_fixed.size,
                        writer: writer_fixed.size,
                    };
                    let path = format!("{}/size", self.path);
                    push(
                        out,
                        Finding {
                            kind: IncompatibilityKind::FixedSizeMismatch,
                            path,
                            detail,
                        },
                    );
                }
                self.decimals(r, w, out);
            }
            (P::Array(reader_items), P::Array(writer_items)) => self.nested("/items", reader_items, writer_items, out),
            (P::Map(reader_values), P::Map(writer_values)) => self.nested("/values", reader_values, writer_values, out),
            (reader_physical, writer_physical) if promotable(reader_physical, writer_physical) => {
                self.decimals(r, w, out)
            }
            _ => {
                let detail = Detail::TypeMismatch {
                    reader: type_name(r.schema),
                    writer: type_name(w.schema),
                };
                push(
                    out,
                    Finding {
                        kind: IncompatibilityKind::TypeMismatch,
                        path: self.path.clone(),
                        detail,
                    },
                );
            }
        }
    }

    fn nested(&mut self, segment: &str, reader: &'s Schema, writer: &'s Schema, out: &mut Vec<Finding>) {
        let base = self.path.len();
        self.path.push_str(segment);
        self.compare_into(reader, writer, out);
        self.path.truncate(base);
    }

    /// The first reader branch that reads `writer` entirely, or the branch that best explains why none does.
    fn read_by_some_branch(
        &mut self,
        reader: &'s UnionSchema,
        writer: &'s Schema,
    ) -> Result<usize, Option<Box<Closest>>> {
        let mut closest = None;
        for (index, branch) in reader.variants().iter().enumerate() {
            let base = self.path.len();
            let _ = write!(self.path, "/{index}");
            let found = self.compare(branch, writer);
            self.path.truncate(base);
            if found.is_empty() {
                return Ok(index);
            }
            if closest.is_none() && self.looks_alike(branch, writer) {
                let more = found.len() - 1;
                let first = found
                    .into_iter()
                    .next()
                    .expect("the comparison found something: it is not empty");
                closest = Some(Box::new(Closest {
                    index,
                    reader_type: self.describe(Side::Reader, branch),
                    first,
                    more,
                }));
            }
        }
        Err(closest)
    }

    /// Whether a reader union branch is the one the writer's type was meant for: same kind (and name) or
    /// a promotion. Only used to explain a missing branch.
    fn looks_alike(&mut self, reader: &'s Schema, writer: &'s Schema) -> bool {
        let (Ok(r), Ok(w)) = (self.view(Side::Reader, reader), self.view(Side::Writer, writer)) else {
            return false;
        };
        use Physical as P;
        match (r.physical, w.physical) {
            (P::Record(a), P::Record(b)) => names_match(&a.name, &a.aliases, &b.name),
            (P::Enum(a), P::Enum(b)) => names_match(&a.name, &a.aliases, &b.name),
            (P::Fixed(a), P::Fixed(b)) => names_match(&a.name, &a.aliases, &b.name),
            (P::Array(_), P::Array(_)) | (P::Map(_), P::Map(_)) => true,
            (a, b) => promotable(a, b),
        }
    }

    fn names(&self, what: &'static str, reader: (&Name, &Aliases), writer: &Name, out: &mut Vec<Finding>) {
        if !names_match(reader.0, reader.1, writer) {
            let detail = Detail::NameMismatch {
                what,
                reader: reader.0.to_string(),
                writer: writer.to_string(),
            };
            let path = format!("{}/name", self.path);
            push(
                out,
                Finding {
                    kind: IncompatibilityKind::NameMismatch,
                    path,
                    detail,
                },
            );
        }
    }

    fn symbols(&self, reader: &EnumSchema, writer: &EnumSchema, out: &mut Vec<Finding>) {
        // A reader default stands in for every unknown writer symbol.
        if reader.default.is_some() {
            return;
        }
        let missing: Vec<String> = writer
            .symbols
            .iter()
            .filter(|s| !reader.symbols.contains(s))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let detail = Detail::MissingEnumSymbols {
                name: reader.name.to_string(),
                symbols: missing,
            };
            let path = format!("{}/symbols", self.path);
            push(
                out,
                Finding {
                    kind: IncompatibilityKind::MissingEnumSymbols,
                    path,
                    detail,
                },
            );
        }
    }

    /// Decimal annotations on physically matching types: equal precision and scale, and no big-decimal
    /// against decimal. An annotation on one side only is ignored.
    fn decimals(&self, r: View<'s>, w: View<'s>, out: &mut Vec<Finding>) {
        use DecimalAnnotation as D;
        match (r.decimal, w.decimal) {
            (
                Some(D::Decimal {
                    precision: rp,
                    scale: rs,
                }),
                Some(D::Decimal {
                    precision: wp,
                    scale: ws,
                }),
            ) => {
                for (attribute, reader, writer) in [("precision", rp, wp), ("scale", rs, ws)] {
                    if reader != writer {
                        let detail = Detail::DecimalAttribute {
                            attribute,
                            reader,
                            writer,
                        };
                        let path = format!("{}/{attribute}", self.path);
                        push(
                            out,
                            Finding {
                                kind: IncompatibilityKind::DecimalMismatch,
                                path,
                                detail,
                            },
                        );
                    }
                }
            }
            (Some(D::Big), Some(D::Decimal { .. })) | (Some(D::Decimal { .. }), Some(D::Big)) => {
                let detail = Detail::DecimalKind {
                    reader: type_name(r.schema),
                    writer: type_name(w.schema),
                };
                push(
                    out,
                    Finding {
                        kind: IncompatibilityKind::DecimalMismatch,
                        path: self.path.clone(),
                        detail,
                    },
                );
            }
            _ => {}
        }
    }

    fn records(&mut self, reader: &'s RecordSchema, writer: &'s RecordSchema, out: &mut Vec<Finding>) {
        let key: Pair<'s> = (&reader.name, &writer.name);
        if let Some(index) = self.in_progress.iter().position(|pair| *pair == key) {
            // Recursion: assume compatible; a difference is reported where the pair was entered.
            self.deps.insert(index);
            return;
        }
        if let Some(memo) = self.memo.get(&key) {
            self.deps.extend(memo.deps.iter().copied());
            for finding in &memo.findings {
                push(out, finding.reprefixed(0, &self.path));
            }
            return;
        }

        let depth = self.in_progress.len();
        self.in_progress.push(key);
        let outer_deps = std::mem::take(&mut self.deps);
        let base = self.path.len();
        let mut found = Vec::new();

        self.names("record", (&reader.name, &reader.aliases), &writer.name, &mut found);
        for (index, field) in reader.fields.iter().enumerate() {
            self.path.truncate(base);
            let _ = write!(self.path, "/fields/{index}");
            let written = writer_field(writer, index, &field.name).or_else(|| {
                field
                    .aliases
                    .iter()
                    .find_map(|alias| writer_field(writer, index, alias))
            });
            match written {
                Some(writer_schema) => {
                    self.path.push_str("/type");
                    self.compare_into(&field.schema, writer_schema, &mut found);
                }
                None if field.default.is_some() => {}
                None => {
                    let detail = Detail::MissingDefault {
                        field: field.name.clone(),
                    };
                    let path = self.path.clone();
                    push(
                        &mut found,
                        Finding {
                            kind: IncompatibilityKind::ReaderFieldMissingDefaultValue,
                            path,
                            detail,
                        },
                    );
                }
            }
        }
        self.path.truncate(base);

        self.in_progress.pop();
        if let Some(keys) = self.provisional.get_mut(depth) {
            for stale in std::mem::take(keys) {
                self.memo.remove(&stale);
            }
        }
        let mut deps = std::mem::replace(&mut self.deps, outer_deps);
        // Assuming this very pair compatible is sound (co-induction); only enclosing pairs matter.
        deps.remove(&depth);
        if let Some(&latest) = deps.last() {
            if self.provisional.len() <= latest {
                self.provisional.resize_with(latest + 1, Vec::new);
            }
            self.provisional[latest].push(key);
        }
        let relative = found.iter().map(|f| f.reprefixed(base, "")).collect();
        self.deps.extend(deps.iter().copied());
        self.memo.insert(
            key,
            Memo {
                findings: relative,
                deps,
            },
        );
        for finding in found {
            push(out, finding);
        }
    }
}
