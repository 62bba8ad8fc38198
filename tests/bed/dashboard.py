"""`make dashboard-picture`: the stack's CloudWatch dashboard (template.yaml, `Dashboard`) drawn
from the metrics of a real scenario on the local bed, for the README (docs/dashboard.png).

1. The scenario (`collect`, inside the bed: `bed.py run -- python tests/bed/dashboard.py`). What
   tests/bed/demo.py sets up — a zone example.cn, CloudFront distributions on certificates from
   another CA uploaded to IAM — for five domains, and the stack (tests/bed/stack.py). Then the
   Lambda binary (target/debug/cert-rotator-lambda, the handler the stack runs; a fresh process
   per run, a cold start) is invoked through the Lambda runtime API (bench.py's emulator) six
   times:

     run 1  a dry run: the estate as it is
     run 2  scheduled: cdn and assets renewed; shop fails (its CAA record names another CA);
            media waits (the CA's rate limit for its names, spent for a week); www is fresh
     run 3  scheduled: shop fails again; media waits
     run 4  by hand, after the operator fixed shop's CAA record: shop forced, renewed
     run 5  scheduled: nothing due; media still waits
     run 6  scheduled: the same

   Each run's EMF lines are read from the function's stdout and turned into data points as
   CloudWatch does (every `_aws.CloudWatchMetrics` directive: its namespace, dimension sets and
   metric names, the values from the line); the emulator measures what AWS/Lambda reports for the
   function: Duration (event handed out to answer), Invocations and Errors (an error answer). All
   of it goes to target/dashboard/metrics.json.

2. The picture (`render`, no bed needed): the template's dashboard body, rendered for the bed's
   stack (motobed/cfn.py), widget by widget at its place on the 24-column grid — each SEARCH
   expression and metric evaluated over those data points with its statistic, each annotation
   drawn, and the alarm status widget showing each alarm's state, evaluated from its own template
   properties (statistic, threshold, comparison, periods, missing data). One period is one run
   here: the runs are seconds apart, not ScheduleHours, and the x axes say so.

    python tests/bed/dashboard.py            both (inside the bed)
    python tests/bed/dashboard.py collect    the scenario only
    python tests/bed/dashboard.py render     the picture from target/dashboard/metrics.json
"""

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "target" / "dashboard"
METRICS = OUT / "metrics.json"
PICTURE = ROOT / "docs" / "dashboard.png"
BINARY = ROOT / "target" / "debug" / "cert-rotator-lambda"
REGION = "cn-north-1"
PARTITION = "aws-cn"
STACK = "cert-rotator"
BUCKET = "cert-rotator-dashboard"
ACCOUNT = "123456789012"  # moto's account for the bed's `testing` keys
FUNCTION = f"{STACK}-rotator"  # the template's FunctionName
ALARMS = ("OverdueAlarm", "WaitingAlarm", "ExpiryAlarm", "ErrorsAlarm", "NoRunAlarm", "SkippedRunsAlarm")
# The domains: (names, days left of a 90-day certificate). cdn, assets and shop are past their
# renewal point (a third of the lifetime left) and below ExpiryAlarm's 15 %, media past it by a
# few days, www fresh.
DOMAINS = {
    "cdn": (["cdn.example.cn", "*.cdn.example.cn"], 10),
    "assets": (["assets.example.cn"], 7),
    "shop": (["shop.example.cn"], 12),
    "media": (["media.example.cn"], 25),
    "www": (["www.example.cn"], 60),
}


# ---------------------------------------------------------------------------------------------
# 1. The scenario, on the bed.

def ari(path, body):
    """A request to the ARI proxy's control port (tests/bed/ari_proxy.py)."""
    request = urllib.request.Request(os.environ["BED_ARI_CONTROL_URL"] + path, data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def caa(zone_id, name, value):
    import demo
    demo.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": "CAA", "TTL": 60,
                                                   "ResourceRecords": [{"Value": value}]}}]})


def world():
    """The zone, one distribution per domain on its hand-uploaded certificate; the zone's id."""
    import demo
    r53, iam, cf = demo.client("route53"), demo.client("iam"), demo.client("cloudfront")
    zone = r53.create_hosted_zone(Name="example.cn", CallerReference="dashboard")["HostedZone"]["Id"]
    now = dt.datetime.now(dt.timezone.utc)
    for label, (names, days_left) in DOMAINS.items():
        body, key = demo.legacy_certificate(names, now - dt.timedelta(days=90 - days_left), 90)
        meta = iam.upload_server_certificate(ServerCertificateName=f"{label}-legacy", Path="/cloudfront/",
                                             CertificateBody=body, PrivateKey=key)["ServerCertificateMetadata"]
        aliases = [n for n in names if not n.startswith("*.")]
        demo.distribution(cf, aliases, meta["ServerCertificateId"])
    return zone


def event(kind, force=()):
    domains = [{"names": names, **({"force": True} if label in force else {})} for label, (names, _) in DOMAINS.items()]
    if kind == "dry-run":
        return {"domains": domains, "dry_run": True}
    if kind == "manual":
        return {"domains": domains}
    # What the stack's rule sends (template.yaml ScheduleRule): the scheduled-run mark.
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rule = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{STACK}-ScheduleRule-DASHBOARD"
    return {"schedule": {"arn": rule, "time": now}, "domains": domains}


def invoke(function_env, payload, log):
    """One cold start of the Lambda binary under the runtime API emulator: (answer kind, the
    answer, Duration in ms, the function's stdout lines)."""
    from bench import RuntimeApi

    api = RuntimeApi()
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "CERT_ROTATOR_", "SSL_CERT_FILE"))}
    env.update({
        **function_env,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "RUST_LOG": "info",  # the report is logged at info: a failed run answers only its error
        "PATH": os.environ.get("PATH", ""),
    })
    api.events.put((str(uuid.uuid4()), json.dumps(payload).encode()))
    stdout = OUT / f"{log}.stdout"
    with open(stdout, "w") as out, open(OUT / f"{log}.stderr", "w") as err:
        proc = subprocess.Popen([str(BINARY)], env=env, stdout=out, stderr=err)
        try:
            kind, answered, body = api.results.get(timeout=900)
        finally:
            proc.kill()
            proc.wait()
            api.close()
    return kind, json.loads(body), (answered - api.sent) * 1000, stdout.read_text().splitlines()


def data_points(lines, run):
    """The data points CloudWatch extracts from EMF lines (the embedded metric format
    specification: each directive's namespace, each dimension set, each metric's value)."""
    points = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or "_aws" not in record:
            continue
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    if metric["Name"] in record:
                        points.append({"run": run, "namespace": directive["Namespace"], "metric": metric["Name"],
                                       "unit": metric.get("Unit", "None"),
                                       "dimensions": {d: str(record[d]) for d in dimensions},
                                       "value": float(record[metric["Name"]])})
    return points


def collect():
    import boto3

    import demo
    import stack

    if not BINARY.exists():
        raise SystemExit(f"dashboard: no {BINARY.relative_to(ROOT)} (make build)")
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("run-*"):
        old.unlink()
    urllib.request.urlopen(urllib.request.Request(
        os.environ["BED_CONTROL_URL"] + "/settings", data=json.dumps({"cloudfront_deploy_seconds": 1.0}).encode(),
        method="POST", headers={"Content-Type": "application/json"}), timeout=10).read()
    credentials = stack.deploy(os.environ["AWS_ENDPOINT_URL"], REGION, boto3.Session(region_name=REGION), ACCOUNT,
                               stack=STACK, bucket=BUCKET)
    secret = demo.client("secretsmanager").describe_secret(SecretId=f"{STACK}/acme-account")["ARN"]
    function_env = {**credentials, "CERT_ROTATOR_BUCKET": BUCKET, "CERT_ROTATOR_ACCOUNT_SECRET": secret,
                    "CERT_ROTATOR_RETIRE_FOREIGN": "true", "CERT_ROTATOR_RUN_INTERVAL_HOURS": "8"}
    zone = world()
    caa(zone, "shop.example.cn", '0 issue "digicert.com"')
    week = 7 * 24 * 3600
    ari("/limits", {"kind": "exact-set", "identifiers": DOMAINS["media"][0], "max": 0, "window": week})

    steps = [
        ("dry run", event("dry-run"), None),
        ("scheduled", event("scheduled"), None),
        ("scheduled", event("scheduled"), None),
        ("by hand, shop forced after its CAA fix", event("manual", force=("shop",)),
         lambda: caa(zone, "shop.example.cn", '0 issue "letsencrypt.org"')),
        ("scheduled", event("scheduled"), None),
        ("scheduled", event("scheduled"), None),
    ]
    runs, points = [], []
    for n, (label, payload, before) in enumerate(steps, 1):
        if before:
            before()
        started = time.time()
        kind, answer, duration_ms, lines = invoke(function_env, payload, f"run-{n}")
        report = answer if kind == "response" else None
        points += data_points(lines, n)
        # What Lambda itself reports for the invocation (namespace AWS/Lambda).
        for metric, value in (("Duration", duration_ms), ("Invocations", 1.0), ("Errors", float(kind == "error"))):
            points.append({"run": n, "namespace": "AWS/Lambda", "metric": metric,
                           "unit": "Milliseconds" if metric == "Duration" else "Count",
                           "dimensions": {"FunctionName": FUNCTION}, "value": value})
        outcomes = outcomes_of(lines, report)
        runs.append({"run": n, "label": label, "started": started, "answer": kind,
                     "error_type": answer.get("errorType") if kind == "error" else None,
                     "duration_ms": round(duration_ms, 1), "outcomes": outcomes})
        print(f"run {n} ({label}): {kind}, {duration_ms / 1000:.1f} s, "
              + ", ".join(f"{d}: {o}" for d, o in outcomes.items()), flush=True)
        time.sleep(1.5)  # the distributions deploy (cloudfront_deploy_seconds); the runs' timestamps differ
    METRICS.write_text(json.dumps({"region": REGION, "partition": PARTITION, "account": ACCOUNT, "stack": STACK,
                                   "function": FUNCTION, "topic": credentials["CERT_ROTATOR_TOPIC_ARN"], "runs": runs, "points": points}, indent=1))
    print(f"dashboard: {len(points)} data points from {len(runs)} runs -> {METRICS.relative_to(ROOT)}")


def outcomes_of(lines, report):
    """Each domain's outcome: from the report the handler returned, or (a failed invocation
    answers only its error) from the report it logged."""
    if report is None:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            fields = record.get("fields", record) if isinstance(record, dict) else {}
            if isinstance(fields, dict) and isinstance(fields.get("report"), str):
                report = json.loads(fields["report"])
    return {d["names"][0]: d["outcome"] for d in (report or {}).get("domains", [])}


# ---------------------------------------------------------------------------------------------
# 2. The picture: the template's dashboard, evaluated over those data points.

SEARCH = re.compile(r"""SEARCH\('\{([^}]*)\} MetricName="(\w+)"', '(\w+)'\)""")
STATES = {"ALARM": "#d13212", "OK": "#1d8102", "INSUFFICIENT_DATA": "#879596"}
SHORT = {"dry run": "dry run", "scheduled": "sched."}


def deployed(data):
    """The bed's stack as CloudFormation would have made it (motobed/cfn.py): the dashboard's
    body and the alarms' rendered properties, by alarm name."""
    from motobed import cfn

    names = {logical: f"{data['stack']}-{logical}" for logical in ALARMS}
    s = cfn.Stack(account=data["account"], region=data["region"], partition=data["partition"], name=data["stack"],
                  parameters={}, refs={"Rotator": data["function"], "AlarmTopic": data["topic"], **names}, attributes={})
    resources = cfn.template()["Resources"]
    body = json.loads(s.render(resources["Dashboard"]["Properties"]["DashboardBody"]))
    alarms = {names[logical]: (logical, s.render(resources[logical]["Properties"])) for logical in ALARMS}
    return body, alarms


def statistic(values, stat):
    return {"Minimum": min, "Maximum": max, "Sum": sum, "Average": lambda v: sum(v) / len(v),
            "SampleCount": len}[stat](values)


def per_run(points, namespace, metric, dimensions, stat):
    """{run: the statistic of that run's values} of the one metric with exactly `dimensions`."""
    runs = {}
    for p in points:
        if p["namespace"] == namespace and p["metric"] == metric and p["dimensions"] == dimensions:
            runs.setdefault(p["run"], []).append(p["value"])
    return {run: statistic(values, stat) for run, values in sorted(runs.items())}


def series(properties, points):
    """(label, {run: value}) of each line a metric widget draws: a SEARCH expression's every
    metric of its schema (exactly its dimensions), or one metric with its options."""
    out = []
    for entry in properties["metrics"]:
        if isinstance(entry[0], dict):
            m = SEARCH.fullmatch(entry[0]["expression"])
            if not m:
                raise SystemExit(f"dashboard: cannot evaluate {entry[0]['expression']!r}")
            namespace, *names = [x.strip() for x in m.group(1).split(",")]
            found = {tuple(p["dimensions"][n] for n in names) for p in points
                     if p["namespace"] == namespace and p["metric"] == m.group(2) and set(p["dimensions"]) == set(names)}
            for values in sorted(found):
                out.append((" ".join(values), per_run(points, namespace, m.group(2), dict(zip(names, values)), m.group(3))))
            continue
        options = entry[-1] if isinstance(entry[-1], dict) else {}
        namespace, metric, *pairs = entry[:-1] if options else entry
        dimensions = dict(zip(pairs[::2], pairs[1::2]))
        stat = options.get("stat", properties.get("stat", "Average"))
        out.append((options.get("label", metric), per_run(points, namespace, metric, dimensions, stat)))
    return out


def alarm_state(properties, points, last_run):
    """The alarm's state after `last_run`, each run one period: its statistic of the metric per
    period, the last EvaluationPeriods periods, DatapointsToAlarm of them breaching, a period
    without data treated as TreatMissingData says."""
    dimensions = {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
    values = per_run(points, properties["Namespace"], properties["MetricName"], dimensions, properties["Statistic"])
    n = int(properties["EvaluationPeriods"])
    needed = int(properties.get("DatapointsToAlarm", n))
    threshold = float(properties["Threshold"])
    compare = {"GreaterThanThreshold": lambda v: v > threshold, "GreaterThanOrEqualToThreshold": lambda v: v >= threshold,
               "LessThanThreshold": lambda v: v < threshold, "LessThanOrEqualToThreshold": lambda v: v <= threshold,
               }[properties["ComparisonOperator"]]
    missing = properties.get("TreatMissingData", "missing")
    window = [values.get(run) for run in range(last_run - n + 1, last_run + 1)]
    breaching = sum(1 for v in window if (v is None and missing == "breaching") or (v is not None and compare(v)))
    if breaching >= needed:
        return "ALARM"
    if all(v is None for v in window) and missing in ("missing", "ignore"):
        return "INSUFFICIENT_DATA"
    return "OK"


def render(data=None, picture=PICTURE):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    data = data or json.loads(METRICS.read_text())
    body, alarms = deployed(data)
    runs, points = data["runs"], data["points"]
    last = runs[-1]["run"]
    columns, rows = 24, max(w["y"] + w["height"] for w in body["widgets"])
    header = 1.3  # grid rows above the widgets
    fig = plt.figure(figsize=(16, (rows + header) * 0.72), dpi=100)
    fig.patch.set_facecolor("#f2f3f3")
    total = rows + header
    span = f"{runs[-1]['started'] - runs[0]['started']:.0f} s"
    fig.text(0.008, 1 - 0.45 / total, f"{data['stack']}-certificates  (template.yaml Dashboard, {data['region']})",
             fontsize=15, weight="bold", va="center")
    fig.text(0.008, 1 - 1.0 / total,
             f"Drawn by `make dashboard-picture` from the EMF lines and durations of {len(runs)} runs of the "
             f"cert-rotator-lambda binary (debug build) on the local bed, all within {span}.\nThe x axes are those "
             "runs, seconds apart; deployed, each point is one schedule interval (ScheduleHours).", fontsize=9.5, va="center", color="#333")
    ticks = [r["run"] for r in runs]
    ticklabels = [f"{r['run']}\n{SHORT.get(r['label'], 'by hand')}" for r in runs]

    for widget in body["widgets"]:
        x0, w = widget["x"] / columns, widget["width"] / columns
        y1 = 1 - (widget["y"] + header) / total
        h = widget["height"] / total
        pad = 0.004
        fig.add_artist(Rectangle((x0 + pad, y1 - h + pad * 1.5), w - 2 * pad, h - 3 * pad, transform=fig.transFigure,
                                 facecolor="white", edgecolor="#d5dbdb", linewidth=1, zorder=-1))
        properties = widget["properties"]
        fig.text(x0 + 0.012, y1 - 0.022, properties.get("title", ""), fontsize=10, weight="bold", va="top")
        if widget["type"] == "alarm":
            names = [arn.rsplit(":alarm:", 1)[1] for arn in properties["alarms"]]
            per_row = 3
            cell_w, cell_h = (w - 0.03) / per_row, 0.055
            for i, name in enumerate(names):
                logical, alarm = alarms[name]
                state = alarm_state(alarm, points, last)
                cx = x0 + 0.015 + (i % per_row) * cell_w
                cy = y1 - 0.07 - (i // per_row + 1) * (cell_h + 0.012)
                fig.add_artist(Rectangle((cx, cy), cell_w - 0.008, cell_h, transform=fig.transFigure,
                                         facecolor=STATES[state], edgecolor="none", alpha=0.9))
                fig.text(cx + 0.008, cy + cell_h * 0.64, logical, fontsize=10, color="white", weight="bold", va="center")
                fig.text(cx + 0.008, cy + cell_h * 0.28, state, fontsize=8.5, color="white", va="center")
            fig.text(x0 + 0.015, y1 - h + 0.016,
                     f"States after run {last}, each alarm evaluated from its template properties over the runs' data "
                     "points, one run taken as one period.", fontsize=7.5, color="#555")
            continue
        legend_right = properties.get("legend", {}).get("position") == "right"
        ax = fig.add_axes((x0 + 0.035, y1 - h + 0.045, w * (0.62 if legend_right else 1) - 0.05, h - 0.095))
        for label, values in series(properties, points):
            ax.plot(list(values), list(values.values()), marker="o", markersize=4, linewidth=1.6, label=label)
        for line in properties.get("annotations", {}).get("horizontal", []):
            ax.axhline(line["value"], color="#d13212", linewidth=1.2, linestyle="--")
            if line.get("fill") == "below":
                ax.axhspan(properties.get("yAxis", {}).get("left", {}).get("min", 0), line["value"],
                           color="#d13212", alpha=0.08)
            ax.text(ticks[0], line["value"], " " + line["label"], color="#d13212", fontsize=8, va="bottom")
        axis = properties.get("yAxis", {}).get("left", {})
        ax.set_ylim(bottom=axis.get("min"), top=axis.get("max"))
        if axis.get("max") is None:
            ax.set_ylim(top=max(ax.get_ylim()[1], 1) * 1.1)
        ax.set_ylabel(axis.get("label", ""), fontsize=8)
        if all(float(v).is_integer() for line in ax.get_lines() for v in line.get_ydata()):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(ticks[0] - 0.3, ticks[-1] + 0.3)
        ax.set_xticks(ticks, ticklabels, fontsize=7)
        ax.tick_params(axis="y", labelsize=7.5)
        ax.grid(True, color="#eaeded", linewidth=0.8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if legend_right:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
        else:
            ax.legend(loc="best", fontsize=8, frameon=False)
    picture.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(picture, facecolor=fig.get_facecolor(), metadata={"Software": None})
    plt.close(fig)
    print(f"dashboard: {os.path.relpath(picture, ROOT)}")


if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else "all"
    if step not in ("all", "collect", "render"):
        raise SystemExit(__doc__)
    if step in ("collect", "all"):
        collect()
    if step in ("render", "all"):
        render()
