"""The `cdp` command: generate the sample world, run the local CRM, run the platform, open the UI."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from orchestration.settings import LOCAL_CRM_TOKEN, Settings

DAGSTER_YAML = Path(__file__).with_name("dagster.yaml")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@click.group()
def main() -> None:
    """OpenCDP: a warehouse-native customer data platform."""


@main.command()
@click.option("--people", type=click.IntRange(min=1), default=1_000, show_default=True, help="People in the world.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed; same seed, same files.")
@click.option("--batches", type=click.IntRange(min=1), default=4, show_default=True, help="Delivery batches per feed.")
@click.option(
    "--end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2026-11-01",
    show_default=True,
    help="The world's last day (UTC); it covers the year before.",
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Folder (default: CDP_WORLD_DIR).")
def generate(people: int, seed: int, batches: int, end: datetime, out: Path | None) -> None:
    """Generate the deterministic sample world and its ground truth."""
    from dlt_sources.sample_world import generate_world

    out = out or _settings().world_dir
    try:
        summary = generate_world(out, people=people, seed=seed, end=end.replace(tzinfo=timezone.utc), batches=batches)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote a world of {people:,} people to {out}")
    for table, count in sorted(summary["rows"].items()):
        click.echo(f"  {table:<28} {count:>10,}")


@main.command("crm-server")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--world", type=click.Path(path_type=Path), default=None, help="World folder (default: CDP_WORLD_DIR).")
def crm_server(port: int, world: Path | None) -> None:
    """Serve the local HubSpot-compatible CRM API of the sample world until interrupted."""
    from dlt_sources.sample_world.crm_server import CrmServer, CrmStore

    settings = _settings()
    world = world or settings.world_dir
    db = world / "systems" / "crm.sqlite"
    _seed_crm(CrmStore, db, world / "systems" / "crm_seed")
    token = os.environ.get("CDP_CRM_TOKEN", LOCAL_CRM_TOKEN)
    with CrmServer(db, token=token, port=port) as server:
        click.echo(f"CRM API on {server.base_url} (token from CDP_CRM_TOKEN); Ctrl-C to stop")
        try:
            server.wait()
        except KeyboardInterrupt:
            pass


def _seed_crm(store_cls, db: Path, seed_dir: Path) -> None:
    if db.exists():
        return
    if not seed_dir.is_dir():
        raise click.ClickException(f"no CRM seed at {seed_dir}: run `cdp generate` first")
    store_cls(db).seed_from_jsonl(seed_dir)


@main.command()
@click.option("--people", type=click.IntRange(min=1), default=1_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--fresh/--keep", default=True, show_default=True, help="Start from an empty warehouse.")
def demo(people: int, seed: int, fresh: bool) -> None:
    """Generate the sample world, run every asset end to end, and print what was built."""
    from orchestration.demo import run_demo

    settings = _settings()
    if settings.target != "duckdb":
        raise click.UsageError("the demo runs on the embedded DuckDB default; unset CDP_TARGET")
    result = run_demo(settings, people=people, seed=seed, fresh=fresh, echo=click.echo)
    if not result.success:
        sys.exit(1)


@main.command()
@click.option("--port", type=int, default=3000, show_default=True)
def ui(port: int) -> None:
    """Open the Dagster UI on the platform, with the local CRM server and the local email
    platform, ad platform and webhook running beside it (unless CDP_CRM_BASE_URL / CDP_ESP_URL
    point elsewhere)."""
    import subprocess
    from contextlib import ExitStack

    from dlt_sources.sample_world.crm_server import CrmServer, CrmStore
    from orchestration.local_destinations import local_destinations
    from orchestration.transform import dbt_project, ensure_manifest

    settings = _settings()
    home = prepare_dagster_home(settings)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.setdefault("CDP_CRM_TOKEN", LOCAL_CRM_TOKEN)
    command = ["dagster", "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)]
    with ExitStack() as stack:
        if "CDP_CRM_BASE_URL" not in os.environ and (settings.crm_seed_dir.is_dir() or settings.crm_db_path.exists()):
            _seed_crm(CrmStore, settings.crm_db_path, settings.crm_seed_dir)
            server = stack.enter_context(CrmServer(settings.crm_db_path, token=env["CDP_CRM_TOKEN"], port=0))
            env["CDP_CRM_BASE_URL"] = server.base_url
            click.echo(f"local CRM API on {server.base_url}")
        if "CDP_ESP_URL" not in os.environ:
            local = stack.enter_context(local_destinations(ensure_manifest(dbt_project(), settings), settings))
            env.update(local.env)
            click.echo(f"local email platform {local.esp.base_url}, ad platform {local.ads.base_url}, "
                       f"webhook {local.webhook.base_url} (in memory: empty at each start)")
        click.echo(f"Dagster UI on http://127.0.0.1:{port}")
        sys.exit(subprocess.call(command, env=env))


def prepare_dagster_home(settings: Settings) -> Path:
    home = settings.home / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    return home


# -- quarantine ----------------------------------------------------------------------------------


def _warehouse(settings: Settings):  # noqa: ANN202 - an expectations.warehouse connection
    from expectations.quarantine import ensure_tables
    from expectations.warehouse import connect

    if settings.target == "duckdb" and not Path(settings.warehouse_path).exists():
        raise click.ClickException(f"no warehouse at {settings.warehouse_path}: run `cdp demo` or load data first")
    try:
        warehouse = connect(
            settings.target,
            duckdb_path=settings.warehouse_path,
            postgres_dsn=settings.postgres.url if settings.target == "postgres" else None,
        )
    except Exception as exc:  # the driver's own message names the problem (locked file, refused connection)
        raise click.ClickException(f"cannot open the warehouse: {exc}") from exc
    ensure_tables(warehouse)
    return warehouse


def _selection_options(command):  # noqa: ANN001, ANN202
    for option in reversed(
        [
            click.option("--source", help="Only this source (events, crm, commerce, email, support, lists)."),
            click.option("--table", help="Only this raw table (e.g. contacts, orders)."),
            click.option("--reason", help="Only this reason (e.g. malformed_email, future_timestamp)."),
            click.option("--expectation", help="Only this expectation (e.g. properties__email_email_format)."),
            click.option("--key", "keys", multiple=True, help="Only these record keys (repeatable)."),
            click.option("--load-id", help="Only rows of this dlt load."),
        ]
    ):
        command = option(command)
    return command


def _validate_selection(warehouse, selection) -> None:  # noqa: ANN001
    """Unknown source, table or reason names are errors, not silently empty selections."""
    from expectations.quarantine import QUARANTINE
    from expectations.suites import SUITES_BY_SOURCE

    if selection.source and selection.source not in SUITES_BY_SOURCE:
        raise click.BadParameter(
            f"unknown source {selection.source!r}; sources: {', '.join(SUITES_BY_SOURCE)}", param_hint="--source"
        )
    if selection.table:
        tables = {s.table for suites in SUITES_BY_SOURCE.values() for s in suites if not selection.source or s.source == selection.source}
        if selection.table not in tables:
            raise click.BadParameter(f"unknown table {selection.table!r}; tables: {', '.join(sorted(tables))}", param_hint="--table")
    if selection.reason:
        known = set(warehouse.query(f"select distinct reason from {QUARANTINE}")["reason"])
        if selection.reason not in known:
            raise click.BadParameter(
                f"no quarantined rows have reason {selection.reason!r}; reasons: {', '.join(sorted(known)) or 'none'}",
                param_hint="--reason",
            )


@main.group()
def quarantine() -> None:
    """Rows the quality gates set aside: list them, release them."""


@quarantine.command("list")
@_selection_options
@click.option("--released", is_flag=True, help="Include rows already released.")
@click.option("--rows", "show_rows", type=click.IntRange(min=0), default=20, show_default=True, help="Rows to show after the counts.")
def quarantine_list(source, table, reason, expectation, keys, load_id, released, show_rows) -> None:  # noqa: ANN001
    """Counts of quarantined rows by source, table and reason, then the rows themselves."""
    from expectations.quarantine import Selection, entries, summary
    from expectations.warehouse import is_missing

    settings = _settings()
    selection = Selection(source, table, reason, expectation, tuple(keys), load_id, include_released=released)
    with _warehouse(settings) as warehouse:
        _validate_selection(warehouse, selection)
        counts = summary(warehouse, selection)
        rows = entries(warehouse, selection, limit=show_rows)
    if counts.empty:
        click.echo("nothing in quarantine" + ("" if selection.is_everything else " matches"))
        return
    click.echo(f"{'source.table':<36} {'reason':<22} {'rows':>8}  first seen")
    for r in counts.itertuples(index=False):
        click.echo(f"{r.source + '.' + r.table_name:<36} {r.reason:<22} {r.rows:>8,}  {r.first_seen_at:%Y-%m-%d %H:%M}")
    if show_rows:
        click.echo("")
        for r in rows.itertuples(index=False):
            state = "" if is_missing(r.released_at) else " (released)"
            click.echo(f"{r.source}.{r.table_name} {r.row_key} [{r.reason}] {r.column_name}={r.offending_value!r} load {r.load_id}{state}")


@quarantine.command("release")
@_selection_options
@click.option("--all", "release_all", is_flag=True, help="Release everything in quarantine (needs no filter).")
@click.option("--note", required=True, help="Why: the fix or rule change that makes these rows good.")
@click.option("--by", "released_by", default=lambda: os.environ.get("USER", "unknown"), show_default="$USER")
@click.option("--dry-run", is_flag=True, help="Only say how many rows would be released.")
def quarantine_release(source, table, reason, expectation, keys, load_id, release_all, note, released_by, dry_run) -> None:  # noqa: ANN001
    """Release quarantined rows so the clean zone takes them at the next run (raw always kept them)."""
    from datetime import datetime, timezone

    from activations.governance.audit import cli_actor
    from activations.governance.events import release_quarantine
    from expectations.quarantine import Selection, entries, summary

    settings = _settings()
    selection = Selection(source, table, reason, expectation, tuple(keys), load_id)
    if selection.is_everything and not release_all:
        raise click.UsageError("say which rows to release (--source, --table, --reason, --key, ...) or pass --all")
    with _warehouse(settings) as warehouse:
        _validate_selection(warehouse, selection)
        counts = summary(warehouse, selection)
        total = int(counts["rows"].sum()) if not counts.empty else 0
        if keys:
            found = set(entries(warehouse, selection, limit=None)["row_key"])
            missing = [k for k in keys if k not in found]
            if missing:
                raise click.BadParameter(f"not in quarantine (or already released): {', '.join(missing)}", param_hint="--key")
        if dry_run:
            click.echo(f"would release {total:,} rows")
            return
        try:
            released = release_quarantine(warehouse, selection, by=released_by, note=note, actor=cli_actor(),
                                          now=datetime.now(timezone.utc))
        except ValueError as error:  # e.g. personal data in the note, refused by the audit log
            raise click.BadParameter(str(error), param_hint="--note") from None
    click.echo(f"released {released.rows:,} rows ({released.entries:,} quarantine entries); they reach the clean zone"
               f" at the next run; recorded in the audit log (quarantine.release)")


# -- identity review -------------------------------------------------------------------------------


@main.group()
def identity() -> None:
    """Identity resolution: the review queue of probabilistic matches."""


@identity.group()
def review() -> None:
    """Grey-band record pairs of probabilistic matching: list them, accept or reject them.

    Accepted pairs become links and rejected pairs do-not-links at the next identity run.
    """


_REVIEW_FIELDS = ("first_name", "last_name", "email", "phone", "postcode", "date_of_birth", "city", "street_address")


def _describe_record(record) -> str:  # noqa: ANN001 - a row of the candidate table
    from expectations.warehouse import is_missing

    values = [str(getattr(record, f)) for f in _REVIEW_FIELDS if not is_missing(getattr(record, f))]
    return " | ".join(values) or "(no attributes)"


@review.command("list")
@click.option(
    "--status", type=click.Choice(["pending", "accepted", "rejected", "all"]), default="pending", show_default=True,
    help="Which pairs to show.",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Pairs to show, most probable first.")
def review_list(status: str, limit: int) -> None:
    """Pairs in the review queue with both records' attributes."""
    from transform.matching.review import candidate_records, list_queue, queue_counts

    settings = _settings()
    with _warehouse(settings) as warehouse:
        counts = queue_counts(warehouse)
        rows = list_queue(warehouse, status=None if status == "all" else status, limit=limit)
        records = candidate_records(warehouse, list(rows["candidate_id_l"]) + list(rows["candidate_id_r"]))
    totals = ", ".join(f"{n:,} {s}" for s, n in counts.items())
    if rows.empty:
        click.echo(f"no {'' if status == 'all' else status + ' '}pairs in the review queue ({totals})")
        return
    by_id = {r.candidate_id: r for r in records.itertuples(index=False)} if not records.empty else {}
    click.echo(f"{'pair id':<17} {'status':<9} {'prob.':>6}  matched on")
    for r in rows.itertuples(index=False):
        decided = "" if r.status == "pending" else f"  ({r.decided_by}: {r.decision_note or 'no note'})"
        click.echo(f"{r.pair_id:<17} {r.status:<9} {r.match_probability:>6.3f}  {r.matched_on or '-'}{decided}")
        for candidate in (r.candidate_id_l, r.candidate_id_r):
            found = by_id.get(candidate)
            click.echo(f"    {candidate}: {_describe_record(found) if found is not None else '(record no longer a candidate)'}")
    wanted = sum(counts.values()) if status == "all" else counts[status]
    click.echo(f"\nshowing {len(rows):,} of {wanted:,} ({totals})")


def _decide(decision: str, pair_ids: tuple[str, ...], decided_by: str, note: str, force: bool, dry_run: bool) -> None:
    from transform.matching.review import AlreadyDecidedError, ReviewError, UnknownPairError, decide

    settings = _settings()
    with _warehouse(settings) as warehouse:
        try:
            result = decide(warehouse, pair_ids, decision, by=decided_by, note=note, force=force, dry_run=dry_run)
        except UnknownPairError as exc:
            raise click.BadParameter(str(exc), param_hint="PAIR_ID") from exc
        except AlreadyDecidedError as exc:
            raise click.ClickException(f"already decided: {exc.detail}; pass --force to change a decision") from exc
        except ReviewError as exc:
            raise click.ClickException(str(exc)) from exc
    changed = f" ({len(result.changed_from):,} changed from an earlier decision)" if result.changed_from else ""
    verb = "would mark" if dry_run else "marked"
    click.echo(f"{verb} {len(result.pair_ids):,} pair(s) {result.decision}{changed}: {', '.join(result.pair_ids)}")
    if not dry_run:
        effect = "links" if result.decision == "accepted" else "do-not-links"
        click.echo(f"they become {effect} at the next identity run")


def _decision_command(decision: str, summary: str):  # noqa: ANN202
    @click.argument("pair_ids", nargs=-1, required=True, metavar="PAIR_ID...")
    @click.option("--by", "decided_by", default=lambda: os.environ.get("USER", "unknown"), show_default="$USER", help="Who decides.")
    @click.option("--note", required=True, help="Why (kept with the decision; a rejection's note names the do-not-link).")
    @click.option("--force", is_flag=True, help="Change pairs that were already accepted or rejected.")
    @click.option("--dry-run", is_flag=True, help="Only check the ids and say what would change.")
    def command(pair_ids: tuple[str, ...], decided_by: str, note: str, force: bool, dry_run: bool) -> None:
        _decide(decision, pair_ids, decided_by, note, force, dry_run)

    command.__doc__ = summary
    return review.command(decision)(command)


review_accept = _decision_command("accept", "Accept pairs: the two records are one person (they will be linked).")
review_reject = _decision_command("reject", "Reject pairs: the two records are different people (never linked).")


# -- activation ------------------------------------------------------------------------------------


@main.group()
def activation() -> None:
    """Audiences and their destinations: list them, plan a sync (dry run), sync."""


def _activation_config(settings: Settings):  # noqa: ANN202 - an ActivationConfig
    from activations.config import ActivationConfigError
    from orchestration.activation import load_activation_config
    from orchestration.transform import dbt_project, ensure_manifest

    try:
        return load_activation_config(ensure_manifest(dbt_project(), settings), settings)
    except ActivationConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _pairs(config, audience: str | None, destination: str | None) -> list[tuple[str, str]]:  # noqa: ANN001
    if audience and audience not in config.audiences:
        raise click.BadParameter(f"unknown audience {audience!r}; audiences: {', '.join(sorted(config.audiences))}",
                                 param_hint="--audience")
    if destination and destination not in config.destinations:
        raise click.BadParameter(
            f"unknown destination {destination!r}; destinations: {', '.join(sorted(config.destinations))}",
            param_hint="--destination")
    pairs = [(a.name, t.destination) for a in config.audiences.values() for t in a.targets
             if (audience is None or a.name == audience) and (destination is None or t.destination == destination)]
    if not pairs:
        raise click.BadParameter(f"the audience {audience!r} is not sent to {destination!r}", param_hint="--destination")
    return pairs


@activation.command("list")
def activation_list() -> None:
    """Every audience with its destinations, modes, fields and schedule."""
    settings = _settings()
    config = _activation_config(settings)
    for spec in config.audiences.values():
        schedule = f", schedule {spec.schedule}" if spec.schedule else ""
        priority = f", priority {spec.priority}" if spec.priority is not None else ""
        click.echo(f"{spec.name} ({spec.relation}{schedule}{priority})")
        for target in spec.targets:
            group = f", exclusive group {target.exclusive_group}" if target.exclusive_group else ""
            channel = config.destinations[target.destination].channel
            click.echo(f"    -> {target.destination}: {target.mode}, {channel} consent, fields "
                       f"{', '.join(target.fields)}{group}")


def _run_activation(audience: str | None, destination: str | None, dry_run: bool) -> None:
    from datetime import datetime, timezone

    from activations.governance.audit import cli_actor
    from activations.runner import activate, plan_text

    settings = _settings()
    config = _activation_config(settings)
    pairs = _pairs(config, audience, destination)
    run_id = f"cli-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
    failed = False
    with _warehouse(settings) as warehouse:
        for audience_name, destination_name in pairs:
            spec = config.destinations[destination_name]
            try:
                client = spec.build(os.environ, resolve_secret=not dry_run)
                report = activate(warehouse, config, audience_name, destination_name, client, run_id=run_id,
                                  dry_run=dry_run, actor=cli_actor())
            except Exception as exc:  # one destination failing does not stop the others
                failed = True
                # this output is logged where syncs run from cron: no data values in it
                click.echo(f"{audience_name} -> {destination_name}: FAILED: {settings.redactor.text(exc)}", err=True)
                continue
            if dry_run:
                click.echo(plan_text(report))
            else:
                counts = ", ".join(f"{k} {v:,}" for k, v in report.counts().items())
                click.echo(f"{audience_name} -> {destination_name}: {counts}")
    if failed:
        sys.exit(1)


@activation.command("plan")
@click.option("--audience", help="Only this audience.")
@click.option("--destination", help="Only this destination.")
def activation_plan(audience: str | None, destination: str | None) -> None:
    """Dry run: per destination, who would be added, updated and removed. Sends nothing."""
    _run_activation(audience, destination, dry_run=True)


@activation.command("sync")
@click.option("--audience", help="Only this audience.")
@click.option("--destination", help="Only this destination.")
def activation_sync(audience: str | None, destination: str | None) -> None:
    """Sync now, outside Dagster (the activation assets do the same on their schedules)."""
    _run_activation(audience, destination, dry_run=False)



# -- privacy ---------------------------------------------------------------------------------------


@main.group()
def privacy() -> None:
    """Requests about one person, named by any identifier (type:value, e.g. email:ana@example.com,
    phone:+14155550134, user_id:u_123, customer_id:cus_123)."""


def _person(warehouse, identifier: str, settings: Settings):  # noqa: ANN001, ANN202 - a governance Person
    from activations.governance.people import IdentifierError, UnknownIdentifierError, resolve

    try:
        return resolve(warehouse, identifier, default_region=settings.default_phone_region)
    except UnknownIdentifierError as exc:  # the operator's own input, named back on their terminal only
        raise click.BadParameter(f"{exc}: {identifier.strip()!r}", param_hint="IDENTIFIER") from exc
    except IdentifierError as exc:
        raise click.BadParameter(str(exc), param_hint="IDENTIFIER") from exc


def _identifier_type(identifier: str, settings: Settings) -> str:
    from activations.governance.people import parse

    return parse(identifier, default_region=settings.default_phone_region).type


def _found(person) -> str:  # noqa: ANN001 - a governance Person
    merged = len(person.customer_ids) - 1
    also = f", {merged} merged-away id{'s' if merged != 1 else ''}" if merged else ""
    return (f"customer {person.customer_id} ({person.status}{also}; {len(person.identifiers)} identifiers, "
            f"{len(person.records)} source records)")


def _write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` readable by the owner only (it is personal data), replacing it whole."""
    import tempfile

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:  # mkstemp creates the file with mode 0600
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@privacy.command("export")
@click.argument("identifier")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON document to this file (mode 0600); default: standard output.")
@click.option("--dry-run", is_flag=True, help="Only say who was found and how many items each section holds.")
def privacy_export(identifier: str, out: Path | None, dry_run: bool) -> None:
    """Everything held about one person as one JSON document (identifiers, profile, events, orders,
    consent, audiences, activation ledger, CRM sync), and the privacy.access_export audit event."""
    from activations.governance import access, audit

    settings = _settings()
    if out is not None and not out.parent.is_dir():
        raise click.BadParameter(f"no folder {out.parent} to write {out.name} in", param_hint="--out")
    with _warehouse(settings) as warehouse:
        person = _person(warehouse, identifier, settings)
        document = access.export(warehouse, person, identifier_type=_identifier_type(identifier, settings))
        sections = access.counts(document)
        if dry_run:
            click.echo(f"found {_found(person)}")
            click.echo("would export:")
            for section, items in sections.items():
                click.echo(f"  {section:<34} {items:>8,}")
            click.echo("dry run: nothing written, no audit event")
            return
        text = access.to_json(document)
        if out is None:
            click.echo(text, nl=False)
        else:
            _write_private(out, text)
        access.record_export(warehouse, document, actor=audit.cli_actor())
    if out is not None:
        click.echo(f"wrote the export of {_found(person)} to {out} ({sum(sections.values()):,} items)")


@privacy.command("consent")
@click.argument("identifier")
@click.option("--history", is_flag=True, help="Also every consent signal of the person's records, oldest first.")
def privacy_consent(identifier: str, history: bool) -> None:
    """A person's consent per channel, with the signal that decided it (--history: every signal)."""
    from activations.governance.access import consent

    settings = _settings()
    with _warehouse(settings) as warehouse:
        person = _person(warehouse, identifier, settings)
        if not warehouse.table_exists("profiles", "customer_consent"):
            raise click.ClickException("the warehouse has no consent yet (profiles.customer_consent): run the platform")
        found = consent(warehouse, person)
    click.echo(_found(person))
    if not found["current"]:
        click.echo("no consent row for this customer (profiles are built for active customers only)")
    for row in found["current"]:
        if row["signal_type"] is None:
            decided = "no signal"
        else:
            at = f" at {row['signal_at']}" if row["signal_at"] else " (undated)"
            decided = f"{row['signal_type']} from {row['signal_source']}{at}, record {row['signal_record_ref']}"
        click.echo(f"  {row['channel']:<8} {row['status']:<8} {decided}")
    if history:
        signals = found["signals"]
        click.echo(f"signals ({len(signals):,}):")
        for row in signals:
            at = row["signal_at"] or "undated"
            click.echo(f"  {row['channel']:<8} {at:<32} {row['signal_type']:<12} {row['record_ref']}")


@privacy.command("delete")
@click.argument("identifier")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted and where; change nothing.")
@click.option("--take-only", is_flag=True, help="Record the request and its tombstones; leave the steps to the "
              "privacy_requests asset (hourly).")
def privacy_delete(identifier: str, dry_run: bool, take_only: bool) -> None:
    """Forget a person: tombstones, removal from every destination and the CRM, every warehouse
    table, the landing files and dlt's load archive. Steps that fail are retried by the
    privacy_requests schedule (or by running this again with another identifier of theirs)."""
    from activations.governance.audit import cli_actor
    from activations.governance.deletion import request_deletion

    settings = _settings()
    with _warehouse(settings) as warehouse:
        person = _person(warehouse, identifier, settings)
        plan = request_deletion(warehouse, person, identifier_type=_identifier_type(identifier, settings),
                                actor=cli_actor(), now=datetime.now(timezone.utc), dry_run=dry_run,
                                default_region=settings.default_phone_region)
    verb = "would delete" if dry_run else "deleting"
    click.echo(f"{verb} {plan.customer_id}: {plan.total_rows:,} warehouse rows in {len(plan.rows)} tables, "
               f"{len(plan.destinations)} destination audience(s), {len(plan.crm_contacts)} CRM contact(s), "
               f"{plan.tombstones} tombstones")
    for table, rows in sorted(plan.rows.items()):
        click.echo(f"  {table:<52} {rows:>8,}")
    for destination, audience in plan.destinations:
        click.echo(f"  destination {destination} / {audience}")
    if dry_run or take_only:
        if take_only:
            click.echo(f"request {plan.request_id} taken; the privacy_requests asset carries it out")
        return
    result = _process_privacy(settings)
    for outcome in result.outcomes:
        rows = f" ({outcome.rows:,})" if outcome.rows else ""
        problem = f": {outcome.error}" if outcome.error else ""
        click.echo(f"  {outcome.step:<12} {outcome.target:<40} {outcome.status}{rows}{problem}")
    if result.compaction_error:
        click.echo(f"  compact      the DuckDB file could not be rewritten: {result.compaction_error}")
    if result.still_open:
        click.echo(f"request {plan.request_id}: {result.still_open} step(s) left; retried by the privacy_requests "
                   "schedule", err=True)
        sys.exit(1)
    click.echo(f"request {plan.request_id} done")


def _process_privacy(settings: Settings):  # noqa: ANN202 - an orchestration.privacy.PrivacyRun
    from activations.crm.config import load_crm_sync_config
    from activations.governance.audit import cli_actor
    from orchestration.privacy import executors, run_requests
    from orchestration.resources import CrmApiResource

    crm_api = CrmApiResource(base_url=settings.crm_base_url,
                             access_token=os.environ.get("CDP_CRM_TOKEN", LOCAL_CRM_TOKEN))
    run = executors(activation=_activation_config(settings), crm_config=load_crm_sync_config(), crm_api=crm_api,
                    landing_dir=settings.landing_dir, pipelines_dir=settings.pipelines_dir,
                    default_region=settings.default_phone_region)
    return run_requests(lambda: _warehouse(settings), run, target=settings.target,
                        warehouse_path=settings.warehouse_path, actor=cli_actor())


@privacy.command("suppress")
@click.argument("identifier")
@click.option("--reason", required=True, help="Why (kept with the suppression).")
@click.option("--dry-run", is_flag=True, help="Say who would be suppressed and which destinations hold them.")
def privacy_suppress(identifier: str, reason: str, dry_run: bool) -> None:
    """Keep a person's data but never activate them: every audience sync and the CRM push leave
    them out, and destinations that hold them remove them at their next sync."""
    from activations.governance.audit import cli_actor
    from activations.governance.deletion import PrivacyRequestError, request_suppression

    settings = _settings()
    with _warehouse(settings) as warehouse:
        person = _person(warehouse, identifier, settings)
        try:
            plan = request_suppression(warehouse, person, identifier_type=_identifier_type(identifier, settings),
                                       actor=cli_actor(), now=datetime.now(timezone.utc), reason=reason,
                                       dry_run=dry_run)
        except PrivacyRequestError as exc:
            raise click.ClickException(str(exc)) from exc
    held = ", ".join(f"{d}/{a}" for d, a in plan.destinations) or "none"
    click.echo(f"{'would suppress' if dry_run else 'suppressed'} {plan.customer_id}; destinations holding them "
               f"(removed at their next sync): {held}")



@main.command("audit")
@click.option("--action", help="Only this action (e.g. privacy.deletion_requested, activation.batch, config.change).")
@click.option("--customer", help="Only events about this customer id (looked up by its hash; the log keeps no ids).")
@click.option("--subject", help="Only events about this subject id as recorded (a table, a request id, a hash).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              help="Only events at or after this UTC time.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="The newest N events.")
def audit_log(action: str | None, customer: str | None, subject: str | None, since: datetime | None,
              limit: int) -> None:
    """The append-only audit log, oldest first: who did what to which data, and when."""
    from activations.governance import audit

    if customer and subject:
        raise click.UsageError("give --customer or --subject, not both")
    settings = _settings()
    with _warehouse(settings) as warehouse:
        if action:
            known = set(warehouse.query(f"select distinct action from {audit.AUDIT_LOG}")["action"]) \
                if warehouse.table_exists(audit.SCHEMA, "audit_log") else set()
            if action not in known:
                raise click.BadParameter(f"no event has the action {action!r}; actions: "
                                         f"{', '.join(sorted(known)) or 'none yet'}", param_hint="--action")
        events = audit.read(warehouse, action=action,
                            subject_id=audit.hash_identifier(customer.strip()) if customer else subject,
                            since=since.replace(tzinfo=timezone.utc) if since else None, limit=limit)
    if events.empty:
        click.echo("no audit events" + (" match" if action or customer or subject or since else " yet"))
        return
    for event in events.itertuples(index=False):
        subject_text = f"{event.subject_type}:{(event.subject_id or '-')[:24]}"
        click.echo(f"{event.seq:>6} {event.occurred_at:%Y-%m-%d %H:%M:%S} {event.action:<32} {subject_text:<40} "
                   f"{event.actor}")
        click.echo(f"       {event.detail}")


if __name__ == "__main__":  # pragma: no cover
    main()
