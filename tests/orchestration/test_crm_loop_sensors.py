"""The CRM loop's sensors: `crm_changes` (polls the CRM's search API, ignores the platform's own
writes) and `crm_loop_failures` (records a failed loop run on the push asset)."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.crm_sync import PUSH_KEY, crm_automations
from orchestration.resources import CrmApiResource, PlatformResource
from tests.activations.test_crm_sync import TOKEN, Loop, loop  # noqa: F401 - the fixture

pytestmark = pytest.mark.filterwarnings("ignore::dagster.PreviewWarning", "ignore::dagster.BetaWarning")


def sensors(job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition) -> dict[str, dg.SensorDefinition]:
    _, defined = crm_automations(job)
    return {sensor.name: sensor for sensor in defined}


def test_the_change_sensor_starts_the_loop_for_crm_edits_only(loop: Loop) -> None:  # noqa: F811
    sensor = sensors(dg.define_asset_job("crm_loop", selection="*"))["crm_changes"]
    resources = {
        "crm_api": CrmApiResource(base_url=loop.server.base_url, access_token=TOKEN),
        "platform": PlatformResource(target="duckdb", home=str(loop.tmp_path), warehouse_path=str(loop.tmp_path / "wh.duckdb"),
                                     landing_dir=str(loop.tmp_path / "landing"), pos_database_url=""),
    }

    def tick(cursor: str | None) -> dg.SensorResult | dg.SkipReason:
        loop.close()  # the sensor reads the warehouse while no run writes it
        with dg.build_sensor_context(cursor=cursor, resources=resources) as context:
            return sensor(context)

    first = tick(None)
    assert not first.run_requests and first.cursor
    assert "remembering" in first.skip_reason.skip_message

    loop.cycle()  # the platform writes 2 contacts and creates 1: its own writes
    own = tick(first.cursor)
    assert not own.run_requests and "3 modification(s), all the platform's own writes" in own.skip_reason.skip_message
    assert int(own.cursor) > int(first.cursor)

    quiet = tick(own.cursor)
    assert isinstance(quiet, dg.SkipReason) and "no contact modified" in quiet.skip_message

    loop.store.update("contacts", "2", {"lifecyclestage": "customer"})  # sales, in the CRM
    edited = tick(own.cursor)
    assert [request.tags["crm_changed_contacts"] for request in edited.run_requests] == ["1"]
    assert edited.run_requests[0].run_key == f"crm-changes:{edited.cursor}"

    loop.server.fail("/search$", status=503, times=None)
    down = tick(edited.cursor)
    assert isinstance(down, dg.SkipReason) and "did not answer" in down.skip_message


def test_a_failed_loop_run_is_recorded_on_the_push_asset(tmp_path) -> None:
    @dg.op
    def pull() -> None:
        raise RuntimeError("the CRM answered 503 for every search")

    @dg.job(name="crm_loop")
    def failing() -> None:
        pull()

    sensor = sensors(failing)["crm_loop_failures"]
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = failing.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(event for event in result.all_events if event.event_type_value == "PIPELINE_FAILURE")
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=failure, dagster_instance=instance, dagster_run=result.dagster_run,
        ).for_run_failure()
        sensor(context)
        observations = instance.fetch_observations(PUSH_KEY, limit=10).records
        assert len(observations) == 1
        metadata = observations[0].asset_observation.metadata
        assert metadata["failed_run_id"].value == result.run_id
        assert metadata["failure"].value.startswith('Execution of run for "crm_loop" failed. Steps failed: [\'pull\'].')
        assert "pull: RuntimeError: the CRM answered 503 for every search" in metadata["failure"].value
