"""The plain-SQL peer pipeline in datafusion-python 55 (2 target partitions): Strata's engine without Strata. The
same SQL as strata.sql, over the bronze Delta table's Parquet files, each table written as Parquet. The difference
to Strata's time is the overhead Strata adds (or saves).
usage: datafusion_job.py BRONZE_DIR OUT_DIR
"""
import os
import re
import sys

import pyarrow as pa
from datafusion import SessionConfig, SessionContext

bronze, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
ctx = SessionContext(SessionConfig().with_target_partitions(2))
ctx.register_parquet("prices", bronze, table_partition_cols=[("year", pa.int32())], file_extension=".parquet")
job = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "strata.sql")).read()
job = re.sub(r"--[^\n]*", "", job).replace("bronze.prices", "prices")
for statement in filter(None, (s.strip() for s in job.split(";"))):
    if statement.startswith("CREATE EXTERNAL TABLE"):
        continue
    if m := re.match(r"CREATE VIEW (\w+) AS\s+(.*)", statement, re.S):
        ctx.register_view(m[1], ctx.sql(m[2]))
        continue
    m = re.match(r"CREATE TABLE \w+\.(\w+) AS\s+(.*)", statement, re.S)
    ctx.sql(m[2]).write_parquet(os.path.join(out, f"{m[1]}.parquet"))
