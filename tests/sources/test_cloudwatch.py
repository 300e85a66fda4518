"""CloudWatch GetMetricData against moto server, and the exact p95 request on the wire.

moto computes no percentiles, so p95 *values* are only checked against real AWS; here the p95
request is captured with botocore's before-send hook (the real HTTP request goes to moto) and
decoded from the wire protocol.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from botocore.parsers import RpcV2CBORParser
from pydantic import ValidationError

from harness.config import AwsSettings
from sources.aws import open_session
from sources.cloudwatch import (
    ALB_LATENCY_P95,
    METRICS_SCHEMA,
    SFN_TIME_P95,
    alb_queries,
    collect_metrics,
    merge_pages,
    stepfunctions_queries,
    write_metrics,
)
from sources.spec import MetricQuery

from .conftest import Moto

LB = "app/pavi-api/50dc6c495c0c9188"
SFN = "arn:aws:states:us-east-1:123456789012:stateMachine:pavi-pipeline"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START, END = NOW - timedelta(minutes=10), NOW


def cw_client(moto: Moto) -> Any:
    return open_session(AwsSettings(region="us-east-1", endpoint_url=moto.url)).client("cloudwatch")


def put(client: Any, namespace: str, metric: str, dims: dict[str, str], at: datetime, *values: float) -> None:
    client.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": at,
                "Value": value,
            }
            for value in values
        ],
    )


def test_sum_and_average_are_parsed(moto: Moto, tmp_path: Path) -> None:
    client = cw_client(moto)
    elb, states = {"LoadBalancer": LB}, {"StateMachineArn": SFN}
    put(client, "AWS/ApplicationELB", "RequestCount", elb, NOW - timedelta(minutes=5), 10, 15)
    put(client, "AWS/ApplicationELB", "RequestCount", elb, NOW - timedelta(minutes=2), 7)
    put(client, "AWS/States", "ExecutionTime", states, NOW - timedelta(minutes=3), 800, 1200)
    queries = [
        MetricQuery(
            id="requests", namespace="AWS/ApplicationELB", metric="RequestCount", dimensions=elb, stat="Sum"
        ),
        MetricQuery(
            id="sfn_mean", namespace="AWS/States", metric="ExecutionTime", dimensions=states, stat="Average"
        ),
    ]
    frame = collect_metrics(client, queries, START, END, 60)
    requests = frame[frame["query_id"] == "requests"].sort_values("timestamp")
    assert requests["value"].tolist() == [25.0, 7.0]
    assert requests["timestamp"].tolist() == [
        pd.Timestamp(NOW - timedelta(minutes=5)),
        pd.Timestamp(NOW - timedelta(minutes=2)),
    ]
    assert str(requests["timestamp"].dt.tz) == "UTC"
    assert requests["unit"].unique().tolist() == ["count"]
    mean = frame[frame["query_id"] == "sfn_mean"]
    assert mean["value"].tolist() == [1000.0] and mean["unit"].tolist() == ["ms"]
    assert json.loads(mean["dimensions"].iloc[0]) == {"StateMachineArn": SFN}
    assert frame.attrs["points"] == {"requests": 2, "sfn_mean": 1}

    rows_file, summary_file = write_metrics(frame, tmp_path, queries, START, END, 60)
    table = pq.read_table(rows_file)
    assert table.schema.equals(METRICS_SCHEMA) and table.num_rows == 3
    summary = json.loads(summary_file.read_text())
    assert summary["status"] == {"requests": "Complete", "sfn_mean": "Complete"}
    assert summary["queries"][0]["id"] == "requests"


def _decode(request: Any) -> dict[str, Any]:
    """The GetMetricData body as sent: AWS JSON 1.0 (what botocore 1.44 sends) or CBOR (rpc-v2)."""
    body = request.body if isinstance(request.body, bytes) else request.body.read()
    kind = request.headers.get("Content-Type", b"")
    if "cbor" in (kind.decode() if isinstance(kind, bytes) else kind):
        return RpcV2CBORParser().parse_data_item(io.BytesIO(body))
    return json.loads(body)


def test_p95_request_is_exactly_right(moto: Moto) -> None:
    client = cw_client(moto)
    sent: list[dict[str, Any]] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(_decode(request))

    client.meta.events.register("before-send.cloudwatch.GetMetricData", capture)
    queries = [*alb_queries(LB), *stepfunctions_queries(SFN, period=300)]
    frame = collect_metrics(client, queries, START, END, 60)  # no data: moto answers empty series
    assert frame.empty and set(frame.attrs["points"]) == {q.id for q in queries}

    [body] = sent
    wire = {query["Id"]: query for query in body["MetricDataQueries"]}
    assert wire[ALB_LATENCY_P95] == {
        "Id": "alb_latency_p95",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/ApplicationELB",
                "MetricName": "TargetResponseTime",
                "Dimensions": [{"Name": "LoadBalancer", "Value": LB}],
            },
            "Period": 60,
            "Stat": "p95",
        },
        "ReturnData": True,
    }
    assert wire[SFN_TIME_P95]["MetricStat"]["Stat"] == "p95"
    assert wire[SFN_TIME_P95]["MetricStat"]["Period"] == 300
    assert wire[SFN_TIME_P95]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": SFN}
    ]
    assert {q["MetricStat"]["Stat"] for q in wire.values()} == {"p95", "Sum", "Average"}
    assert body["ScanBy"] == "TimestampAscending"


def test_pages_merge_per_query() -> None:
    """NextToken pagination continues a series on the next page (moto never paginates; real AWS does)."""
    t = [datetime(2025, 2, 1, 0, m, tzinfo=UTC) for m in range(3)]
    pages = [
        {
            "MetricDataResults": [
                {"Id": "a", "Timestamps": t[:2], "Values": [1.0, 2.0], "StatusCode": "PartialData"},
                {"Id": "b", "Timestamps": [], "Values": [], "StatusCode": "PartialData"},
            ],
            "NextToken": "x",
        },
        {
            "MetricDataResults": [
                {"Id": "a", "Timestamps": t[2:], "Values": [3.0], "StatusCode": "Complete"}
            ],
            "Messages": [
                {"Code": "MaxMetricsExceeded", "Value": "Maximum number of allowed metrics exceeded"}
            ],
        },
    ]
    merged, messages = merge_pages(pages)
    assert merged["a"]["values"] == [1.0, 2.0, 3.0] and merged["a"]["timestamps"] == t
    assert merged["a"]["status"] == "Complete" and merged["b"]["status"] == "PartialData"
    assert messages == ["Maximum number of allowed metrics exceeded"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stat", "P95"),
        ("stat", "95th"),
        ("stat", "average"),
        ("id", "Latency"),
        ("id", "p-95"),
        ("period", 90),
    ],
)
def test_bad_queries_are_refused(field: str, value: Any) -> None:
    good = {"id": "q1", "namespace": "AWS/States", "metric": "ExecutionTime", "stat": "p95", "period": 60}
    with pytest.raises(ValidationError):
        MetricQuery(**{**good, field: value})
    assert MetricQuery(**{**good, "stat": "p99.9"}).stat == "p99.9"
