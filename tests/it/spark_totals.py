"""Totals of duckmarc Parquet exports read by Apache Spark (pyspark, local mode).

    python3 spark_totals.py EXPORT_DIR [EXPORT_DIR ...]

Reads the `reports` and `records` datasets of every export (shards), keeps each report once
(by report_key whatever its case; a record by that and record_no), and prints the totals `duckmarc stats`
gives, as one JSON object.
"""
import json
import sys

from pyspark.sql import SparkSession, functions as F

spark = (
    SparkSession.builder.master("local[2]")
    .appName("duckmarc-export-check")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
exports = sys.argv[1:]


def dataset(name):
    # basePath keeps `day` as a column; mergeSchema reads files of several exports together.
    frames = [
        spark.read.option("basePath", f"{d}/{name}").option("mergeSchema", "true").parquet(f"{d}/{name}")
        for d in exports
    ]
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other, allowMissingColumns=True)
    return frame


# A key compares whatever its case, as in a database: shards that first stored `Yahoo` and
# `yahoo` hold one report under keys that differ in case.
reports = dataset("reports").withColumn("key", F.lower("report_key")).dropDuplicates(["key"])
records = (
    dataset("records")
    .withColumn("key", F.lower("report_key"))
    .dropDuplicates(["key", "record_no"])
)
totals = records.agg(
    F.count(F.lit(1)).alias("records"),
    F.sum("count").alias("messages"),
    F.sum(F.when(F.col("dmarc_pass"), F.col("count")).otherwise(0)).alias("dmarc_pass_messages"),
    F.countDistinct("policy_domain").alias("domains"),
    F.countDistinct("source_ip").alias("sources"),
).first()
days = [r["day"] for r in records.select(F.col("day").cast("string").alias("day")).distinct().collect()]
print(json.dumps({
    "reports": reports.count(),
    "records": totals["records"],
    "messages": totals["messages"],
    "dmarc_pass_messages": totals["dmarc_pass_messages"],
    "domains": totals["domains"],
    "sources": totals["sources"],
    "days": sorted(days),
}))
spark.stop()
