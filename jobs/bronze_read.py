"""Landing -> DataFrame: read planning and the one read per group of files, with declared schemas.

Every read yields the contract's canonical columns, the raw text and a reason for records that
did not parse, and (JSON lines) the keys a record has that the contract does not: schema drift,
reported per file instead of dropped in silence.

Bronze reads under ``citylake.engine.splits.one_split_per_partition``: every Spark partition
is one split of one file. A split is read in order by one task, so a record's number is its
position in the task plus the records of the file's earlier splits, which preflight counted
while it read the file (``LandedFile.lines_before``). Parquet has ``_metadata.row_index``. No
pass over the data before the write is needed to number records.

A large file is read on its own (``read_file``): its lineage (unit, feed, path) is literals, with
no per-row ``_metadata`` column, which the study in ADR 0004 measured at +44%. Small files of the
same reader options are read together (``read_together``), as a scan per file costs its plan
and its task (about 40 ms a file): their lineage is looked up by ``input_file_name()``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from citylake.config.registry import FeedContract
from citylake.lake import preflight

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructField

CORRUPT = "_corrupt_record"
DRIFT = "_drift"
SPARK_CHARSETS = {
    "utf-8": "UTF-8",
    "utf8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "gbk": "GBK",
    "gb18030": "GB18030",
    "gb2312": "GB2312",
}


def spark_type(name: str) -> DataType:
    from pyspark.sql import types as T

    return {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
        "timestamp": T.TimestampType(),
        "date": T.DateType(),
    }[name]


@dataclass(frozen=True)
class ReadGroup:
    """Files of one contract that one spark.read call can take together."""

    contract: FeedContract
    format: str
    encoding: str
    delimiter: str
    timestamp_format: str
    source_columns: tuple[tuple[str, str], ...]
    paths: tuple[str, ...]
    multiline: bool = False
    null_values: tuple[str, ...] = ()


def group_of(lf: preflight.LandedFile) -> ReadGroup:
    """The reader options of a landed file (its paths left empty)."""
    assert lf.feed_ref is not None
    f = lf.feed_ref
    return ReadGroup(
        f.contract, f.spec.format, f.spec.encoding, f.spec.delimiter, f.timestamp_format,
        tuple(lf.source_columns), paths=(), multiline=f.spec.multiline, null_values=f.null_values,
    )  # fmt: skip


def plan_reads(files: list[preflight.LandedFile]) -> list[ReadGroup]:
    groups: dict[ReadGroup, list[str]] = defaultdict(list)
    for lf in files:
        groups[group_of(lf)].append(lf.path)
    return [dataclasses.replace(k, paths=tuple(sorted(p))) for k, p in groups.items()]


def splittable(lf: preflight.LandedFile) -> bool:
    """Whether Spark may cut the file into splits: text formats, uncompressed, one record per line."""
    spec = lf.feed_ref.spec if lf.feed_ref else None
    return spec is not None and spec.format in ("csv", "jsonl") and not spec.multiline and not lf.path.endswith(".gz")


# a file this large is read on its own; smaller ones share a scan with their group's
ALONE_BYTES = 32 << 20


def read_files(spark: SparkSession, files: list[preflight.LandedFile]) -> DataFrame:
    """The files as one DataFrame: each large one on its own, the others one scan per group."""
    groups: dict[ReadGroup, list[preflight.LandedFile]] = defaultdict(list)
    for lf in sorted(files, key=lambda f: f.rel):
        groups[group_of(lf)].append(lf)
    frames = []
    for group, members in groups.items():
        frames += [read_file(spark, group, lf) for lf in members if lf.size >= ALONE_BYTES]
        small = [lf for lf in members if lf.size < ALONE_BYTES]
        if small:
            frames.append(read_together(spark, group, small))
    out = frames[0]
    for frame in frames[1:]:
        out = out.union(frame)  # the same columns in the same order: no resolution by name
    return out


def _csv_reason(group: ReadGroup) -> Column:
    from pyspark.sql import functions as F

    expected = len(group.source_columns)
    tokens = F.split(F.col(CORRUPT), re.escape(group.delimiter), -1)
    per_field = []
    for i, (source, canonical) in enumerate(group.source_columns):
        token = F.trim(F.element_at(tokens, i + 1))
        ctype = group.contract.by_name[canonical].type
        per_field.append(
            F.when(
                F.col(canonical).isNull() & ~token.isin("", *group.null_values),  # a marker is no error
                # the value itself stays in raw_text: a reason is shown where values must not be
                F.lit(f"field '{source}' (column {i + 1}): cannot parse as {ctype}"),
            )
        )
    n = F.size(tokens)
    # a quote that does not close on its line: half of a record whose field holds a line break
    open_quote = (F.size(F.split(F.col(CORRUPT), '"', -1)) % 2) == 0
    return (
        F.when(open_quote & F.lit(not group.multiline), F.lit(
            "unbalanced quotes: a quoted field holds a line break (the file has quoted newlines), so "
            "the record was split; declare `multiline: true` for this feed to read such files whole"))
        .when(n != expected, F.concat(F.lit(f"expected {expected} fields, found "), n.cast("string")))
        .otherwise(F.coalesce(*per_field, F.lit("malformed CSV record")))
    )  # fmt: skip


def _json_reason(group: ReadGroup) -> Column:
    from pyspark.sql import functions as F

    per_field = []
    for source, canonical in group.source_columns:
        raw = F.get_json_object(F.col(CORRUPT), f"$['{source}']")
        ctype = group.contract.by_name[canonical].type
        per_field.append(
            F.when(
                F.col(canonical).isNull() & raw.isNotNull() & ~raw.isin(*group.null_values),
                F.lit(f"field '{source}': cannot parse as {ctype}"),  # the value stays in raw_text
            )
        )
    broken = F.get_json_object(F.col(CORRUPT), "$").isNull()
    not_object = ~F.trim(F.col(CORRUPT)).startswith("{")
    return (
        F.when(not_object & ~broken, F.lit("a JSON lines record must be an object"))
        .when(broken, F.lit("invalid JSON: broken or truncated record"))
        .otherwise(F.coalesce(*per_field, F.lit("malformed JSON record")))
    )


def _json_unmarked(line: Column, markers: tuple[str, ...]) -> Column:
    """A JSON line with every member whose value is a marker string ("NA") set to null."""
    from pyspark.sql import functions as F

    if not markers:
        return line
    values = "|".join(re.escape(json.dumps(m, ensure_ascii=False)[1:-1]) for m in markers)
    # a member: its quoted key, the colon, then the quoted marker followed by , or }
    member = r'("(?:[^"\\]|\\.)*"\s*:\s*)"(?:' + values + r')"(\s*[,}])'
    return F.regexp_replace(line, member, "$1null$2")


def _csv_unmarked(
    df: DataFrame, group: ReadGroup, fields: list[StructField], options: dict[str, str]
) -> DataFrame:
    """Null markers in a CSV read with declared types.

    A marker in a typed field fails the parse, so such a record comes back as corrupt: its raw
    line is split again, markers are blanked (an empty field is null), every other field is
    re-quoted, and the line is parsed again with the same types and options. The record is
    repaired when the rebuilt line parses: every field is a marker, empty, or a value of its
    type. A marker in a text field parses as text, and is set to null in every record.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    markers = [F.lit(m) for m in group.null_values]
    n = len(fields)
    as_text = T.StructType([T.StructField(f"_t{i}", T.StringType()) for i in range(n)])
    tokens = F.from_csv(F.col(CORRUPT), as_text.simpleString(), options)
    parts = []
    for i in range(n):
        tok = tokens.getField(f"_t{i}")
        quoted = F.concat(F.lit('"'), F.regexp_replace(tok, '"', '""'), F.lit('"'))
        parts.append(F.when(tok.isNull() | F.trim(tok).isin(*markers), F.lit("")).otherwise(quoted))
    typed = T.StructType(fields)
    fixed = F.from_csv(F.concat_ws(group.delimiter, *parts), typed.simpleString(), options)
    count = F.size(F.split(F.col(CORRUPT), re.escape(group.delimiter), -1))
    df = df.withColumn("_fix", F.when(F.col(CORRUPT).isNotNull() & (count == n), F.struct(
        fixed.alias("v"), tokens.alias("t"))))  # fmt: skip
    failed = [
        F.col("_fix.t").getField(f"_t{i}").isNotNull()
        & ~F.trim(F.col("_fix.t").getField(f"_t{i}")).isin("", *group.null_values)
        & F.col("_fix.v").getField(f.name).isNull()
        for i, f in enumerate(fields)
    ]
    repaired = (
        F.col("_fix").isNotNull() & ~F.greatest(*failed) if n > 1 else F.col("_fix").isNotNull() & ~failed[0]
    )
    out = []
    for f in fields:
        value = F.when(repaired, F.col("_fix.v").getField(f.name)).otherwise(F.col(f.name))
        if isinstance(f.dataType, T.StringType):
            value = F.when(F.trim(value).isin(*markers), F.lit(None).cast("string")).otherwise(value)
        out.append(value.alias(f.name))
    return df.select(*out, F.when(repaired, None).otherwise(F.col(CORRUPT)).alias(CORRUPT), "_metadata")


def read_group(spark: SparkSession, group: ReadGroup, *lineage: Column) -> DataFrame:
    """A lazy DataFrame of a group's files: canonical columns, raw text and reason of bad records
    (``lineage``: more columns, evaluated on each row as it is read)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    contract = group.contract
    source_fields = [
        T.StructField(src, spark_type(contract.by_name[canon].type)) for src, canon in group.source_columns
    ]
    common = {"mode": "PERMISSIVE", "timestampFormat": group.timestamp_format, "dateFormat": "yyyy-MM-dd"}
    drift = F.lit(None).cast("array<string>")
    if group.format == "csv":
        # Spark's CSV reader is positional: the header order found by preflight names the fields.
        fields = [
            T.StructField(canon, f.dataType)
            for (src, canon), f in zip(group.source_columns, source_fields, strict=True)
        ]
        schema = T.StructType([*fields, T.StructField(CORRUPT, T.StringType())])
        df = (
            spark.read.format("csv")
            .schema(schema)
            .options(
                header="true",
                enforceSchema="true",
                sep=group.delimiter,
                multiLine=str(group.multiline).lower(),
                encoding=SPARK_CHARSETS.get(group.encoding, group.encoding),
                columnNameOfCorruptRecord=CORRUPT,
                **common,
            )
            .load(list(group.paths))
        )
        if group.null_values:
            df = _csv_unmarked(df, group, fields, options={"sep": group.delimiter, **common})
        reason = _csv_reason(group)
    elif group.format == "jsonl":
        # Read as lines and parse them: the raw line is at hand for every record, so keys the
        # contract does not have are seen (the JSON reader would drop them without a word).
        schema = T.StructType([*source_fields, T.StructField(CORRUPT, T.StringType())])
        lines = spark.read.format("text").load(list(group.paths)).where(F.length(F.trim("value")) > 0)
        # null markers become JSON nulls before the parse; a bad record keeps its raw text
        parsed = F.from_json(_json_unmarked(F.col("value"), group.null_values), schema,
                             {"columnNameOfCorruptRecord": CORRUPT, **common})  # fmt: skip
        known = F.array(*[F.lit(src) for src, _ in group.source_columns])
        df = lines.select(parsed.alias("_j"), "value", "_metadata")
        # Listing a record's keys parses it a second time, so only records that may hold a key
        # the contract lacks are listed: a key is a closing quote before a colon, so a record
        # with no more '":', '" ' and '"<tab>' than known fields with values has no other key.
        marks = sum(
            (F.length("value") - F.length(F.replace("value", F.lit(m), F.lit("")))) / 2
            for m in ('":', '" ', '"\t')
        )
        filled = sum(
            (F.col("_j").getField(src).isNotNull().cast("int") for src, _ in group.source_columns), F.lit(0)
        )
        more = F.when(marks > filled, F.array_except(F.json_object_keys("value"), known))
        df = df.select("_j", more.alias(DRIFT), "value", "_metadata")
        df = df.select(
            *[F.col("_j").getField(src).alias(canon) for src, canon in group.source_columns],
            F.when(F.col("_j").getField(CORRUPT).isNotNull(), F.col("value")).alias(CORRUPT), DRIFT, "_metadata",
        )  # fmt: skip
        drift = F.when(F.col(CORRUPT).isNull() & (F.size(DRIFT) > 0), F.col(DRIFT))
        reason = _json_reason(group)
    else:
        df = spark.read.format("parquet").schema(T.StructType(source_fields)).load(list(group.paths))
        df = df.select(
            *[F.col(f"`{src}`").alias(canon) for src, canon in group.source_columns],
            F.lit(None).cast("string").alias(CORRUPT),
            "_metadata",
        )
        reason = F.lit(None).cast("string")
    return df.select(
        *[F.col(c.name) for c in contract.columns],
        F.col(CORRUPT),
        F.when(F.col(CORRUPT).isNotNull(), reason).alias("_reason"),
        drift.alias(DRIFT),
        *lineage,
    )


def record_numbers(group: ReadGroup, files: list[preflight.LandedFile], which: Column | None = None) -> Column:
    """Each record's number in its file (from 1), for a read of ``files`` (``which``: the index
    of the row's file in ``files``, where they are more than one).

    Text: the position in the task (the low 33 bits of ``monotonically_increasing_id``), plus
    the records in the file's earlier splits, by the split's start. A split the plan did not
    foresee fails the read, naming the file: a number is never guessed.
    """
    from pyspark.sql import functions as F

    if group.format == "parquet":
        return F.col("_metadata.row_index") + 1
    position = F.monotonically_increasing_id().bitwiseAND(F.lit((1 << 33) - 1)) + 1
    split_files = [(n, lf) for n, lf in enumerate(files) if lf.split_starts]
    if not split_files:
        return position
    header = 1 if group.format == "csv" else 0
    split = F.input_file_block_start()
    earlier = F.when(split == 0, F.lit(0))
    for n, lf in split_files:
        mine = F.lit(True) if which is None else which == n
        for start in lf.split_starts:
            earlier = earlier.when(mine & (split == start), F.lit(lf.lines_before[start] - header))
    names = ", ".join(lf.rel for _, lf in split_files)
    earlier = earlier.otherwise(F.raise_error(F.lit(
        f"Spark read a split that the split plan did not foresee, in one of: {names}")))  # fmt: skip
    return position + earlier


def read_file(spark: SparkSession, group: ReadGroup, lf: preflight.LandedFile) -> DataFrame:
    """One landed file of ``group``, read on its own: the group's columns and the record's
    lineage (``_unit``, ``_feed``, ``_source_file``, ``_record_no``)."""
    from pyspark.sql import functions as F

    return read_group(
        spark,
        dataclasses.replace(group, paths=(lf.path,)),
        F.lit(lf.unit).alias("_unit"),
        F.lit(lf.feed).alias("_feed"),
        F.lit(lf.rel).alias("_source_file"),
        record_numbers(group, [lf]).alias("_record_no"),
    )


def read_together(spark: SparkSession, group: ReadGroup, files: list[preflight.LandedFile]) -> DataFrame:
    """Landed files of ``group`` in one scan, with each record's lineage, as ``read_file``'s.

    Each row's file is found by ``input_file_name()`` among the scan's files (Spark's own URIs
    for them, from the scan's file index), a lookup of a few strings per row.
    """
    from pyspark.sql import functions as F

    paths = tuple(lf.path for lf in files)
    uris = spark.read.format("text").load(list(paths)).inputFiles()
    index = _owners(uris, files)
    which = F.element_at(F.create_map(*[x for uri, n in index.items() for x in (F.lit(uri), F.lit(n))]),
                         F.input_file_name())  # fmt: skip

    def pick(values: list[str]) -> Column:
        return F.element_at(F.array(*[F.lit(v) for v in values]), which + 1)

    return read_group(
        spark,
        dataclasses.replace(group, paths=paths),
        pick([lf.unit for lf in files]).alias("_unit"),
        pick([lf.feed for lf in files]).alias("_feed"),
        pick([lf.rel for lf in files]).alias("_source_file"),
        record_numbers(group, files, which).alias("_record_no"),
    )


def _owners(uris: list[str], files: list[preflight.LandedFile]) -> dict[str, int]:
    """Spark's URI of each file -> the file's index in ``files`` (matched by the landing path)."""
    by_rel = {lf.rel: n for n, lf in enumerate(files)}
    out = {}
    for uri in uris:
        rel = "/".join(urllib.parse.unquote(uri).split("/")[-4:])
        if rel not in by_rel:
            raise RuntimeError(f"Spark listed a file the batch did not plan: {rel}")
        out[uri] = by_rel[rel]
    if len(out) != len(files):
        raise RuntimeError(f"Spark listed {len(out)} of the batch's {len(files)} files")
    return out
