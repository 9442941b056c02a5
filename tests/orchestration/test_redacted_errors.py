"""Nothing personal reaches Dagster from a failed step unless CDP_ALLOW_PII_IN_METADATA allows it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from activations.governance.redaction import Redactor
from orchestration.redaction import redacted_errors
from orchestration.resources import PlatformResource
from orchestration.settings import Settings

EMAIL = "jane.doe@gmail.com"


def _failing_step(redactor: Redactor) -> dg.ExecuteInProcessResult:
    @dg.asset
    def contacts() -> None:
        with redacted_errors(redactor):
            try:
                raise KeyError(EMAIL)
            except KeyError as lookup:
                raise ValueError(f"Conversion Error: Could not convert string '{EMAIL}' to INT32") from lookup

    return dg.materialize([contacts], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _step_error_text(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    error = failures[0].step_failure_data.error
    texts = []
    while error is not None:  # the whole chain Dagster stores: the error, its causes and contexts
        texts += [error.message, *error.stack]
        error = error.cause or error.context
    return "\n".join(texts)


def test_a_failed_steps_error_is_scrubbed_with_its_whole_chain() -> None:
    result = _failing_step(Redactor())
    assert not result.success
    text = _step_error_text(result)
    assert "jane.doe" not in text and "gmail.com" not in text
    # the scrubbed traceback keeps what helps: both exceptions, their types and where they were raised
    assert "Could not convert string 'j***@g***.com' to INT32" in text and "KeyError: 'j***@g***.com'" in text
    assert "test_redacted_errors.py" in text


def test_with_samples_allowed_a_failed_step_keeps_its_error_as_raised() -> None:
    text = _step_error_text(_failing_step(Redactor(allow_samples=True)))
    assert f"Could not convert string '{EMAIL}' to INT32" in text


def test_retry_requests_pass_through() -> None:
    with pytest.raises(dg.RetryRequested), redacted_errors(Redactor()):
        raise dg.RetryRequested(max_retries=1)


def test_the_setting_reaches_the_platform_resource(tmp_path: Path) -> None:
    base = {"CDP_HOME": str(tmp_path)}
    assert Settings.from_env(base).allow_pii_in_metadata is False
    allowed = Settings.from_env({**base, "CDP_ALLOW_PII_IN_METADATA": "true"})
    assert allowed.allow_pii_in_metadata and allowed.redactor.allow_samples
    platform = PlatformResource.from_settings(allowed)
    assert platform.allow_pii_in_metadata and platform.redactor.sample(EMAIL) == EMAIL
    assert PlatformResource.from_settings(Settings(home=tmp_path)).redactor.sample(EMAIL) == "j***@g***.com"
    with pytest.raises(ValueError, match="CDP_ALLOW_PII_IN_METADATA must be one of"):
        Settings.from_env({**base, "CDP_ALLOW_PII_IN_METADATA": "sometimes"})
