"""The ``monitor`` flow: the prediction log's window against the champion's training reference (drift per feature and
of the predicted genres, unusual features, live accuracy from feedback), a report, and past the thresholds the
``retrain`` deployment, started through the Prefect API at most once per cool-down."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from genre.config import Config, MonitorConfig, load_config
from genre.metrics.plots import markdown_table
from genre.monitoring.cooldown import retrain_slot
from genre.monitoring.drift import Assessment, assess_home
from genre.monitoring.report import summary_rows, write_report


@task(name="start-retrain")
def start_retrain(cfg: Config, config: str | None) -> str:
    """A flow run of the retrain deployment, returned at once (it still has to pass the gate); its id."""
    from prefect.deployments import run_deployment

    parameters: dict[str, Any] = {"home": str(cfg.home.resolve())}
    if config:
        parameters["config"] = config
    run = run_deployment(cfg.monitor.retrain_deployment, parameters=parameters, timeout=0, tags=["monitor"])
    return str(run.id)


def _decide(a: Assessment, cfg: Config, config: str | None, retrain: bool) -> tuple[str, str | None]:
    """What the monitor does about the alarms: the sentence for the report, and the retrain's flow run id."""
    from prefect.exceptions import ObjectNotFound

    name = cfg.monitor.retrain_deployment
    if not a.alarms:
        return "no retrain: " + a.message, None
    if not retrain:
        return f"alarm, but retrain = false: {name} not started", None
    with retrain_slot(cfg.home, cfg.monitor.cooldown_hours) as slot:
        if not slot.free:
            return (f"alarm, but in the cool-down: {name} was started at {slot.last['at']} (flow run "
                    f"{slot.last['flow_run']}); the next may start after {slot.ends:%Y-%m-%d %H:%M} UTC "
                    f"(monitor.cooldown_hours = {cfg.monitor.cooldown_hours:g})"), None
        try:
            run_id = start_retrain(cfg, config)
        except ObjectNotFound:
            return f"alarm, but no deployment {name} on the Prefect server: deploy prefect.yaml (make deploy)", None
        slot.take(run_id, a.alarms)
    return f"started {name} (flow run {run_id}); it is promoted only if it passes the gate", run_id


@flow(name="monitor", log_prints=True)
def monitor(
    config: str | None = Field(None, description="TOML file with config sections (see genre/config.py)"),
    home: str | None = Field(None, description="GENRE_HOME: the prediction log, models, runs (default: $GENRE_HOME)"),
    settings: MonitorConfig = MonitorConfig(),
    since: datetime | None = Field(None, description="start of the window (default: monitor.window_days ago)"),
    retrain: bool = Field(True, description="start the retrain deployment on an alarm"),
) -> dict[str, Any]:
    """Assess the champion's answers of the window; write the report; start a retrain on an alarm (see _decide)."""
    cfg = load_config(config, home=home, monitor=settings.model_dump(exclude_defaults=True))
    until = datetime.now(UTC)
    since = since or until - timedelta(days=cfg.monitor.window_days)
    since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)  # naive: UTC
    a, reference = assess_home(cfg.home, cfg.monitor, since, until)
    decision, run_id = _decide(a, cfg, config, retrain)
    run_dir = cfg.runs_dir / f"monitor-{until:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    files = write_report(a, reference, decision, run_dir)
    print(f"{a.message}\n{decision}\nreport: {run_dir / 'report.html'}")
    create_markdown_artifact(key="genre-monitor", description="drift, live quality and the retrain decision",
                             markdown="\n\n".join([f"# Monitor of {a.model}", f"**{a.message}**",
                                                   f"**Decision:** {decision}", markdown_table(summary_rows(a)),
                                                   "Report and plots: " + ", ".join(f"`{p}`" for p in files)]))
    return {"run_dir": str(run_dir), "model": a.model, "requests": a.requests, "enough": a.enough,
            "drift_share": a.drift_share, "genres_drifted": a.genres.get("drifted"), "unusual_rate": a.unusual_rate,
            "feedback": a.feedback, "live_accuracy": a.live_accuracy, "live_roc_auc": a.live_roc_auc,
            "alarms": a.alarms, "message": a.message, "decision": decision, "retrain_flow_run": run_id}
