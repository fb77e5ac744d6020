"""intake-parser: a mail SES wrote to the raw-mime bucket becomes a proposal card in the intake channel
(DESIGN.md §3, §8, §9). Triggered by S3 ObjectCreated under the SES prefix, and by Textract's
completion notice (SNS) for a scanned PDF."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime
from ew.extraction import BedrockModel
from ew.intake import DROPPED, PROPOSED, IntakeDeps, registry_read, resume_after_ocr, run_intake

logger = Logger()
metrics = Metrics()


def deps() -> IntakeDeps:
    # Bedrock only when a model is named (the template passes the global inference profile); any
    # Bedrock failure falls back to the offline reader inside ew.extraction.extract.
    model_id = os.environ.get("EW_BEDROCK_MODEL_ID", "").strip()
    return IntakeDeps(
        s3=runtime.client("s3"),
        state=runtime.state_table(),
        slack=runtime.slack(),
        settings=runtime.settings(),
        source_bucket=runtime.env("EW_SOURCE_BUCKET"),
        model=BedrockModel(runtime.extraction_bedrock(), model_id) if model_id else None,
        registry=lambda: registry_read(
            runtime.client("s3"), runtime.env("EW_REGISTRY_BUCKET"), runtime.settings().date_order
        ),
        # Scanned PDFs go to Textract only when the template gave its topic (else: "needs OCR").
        textract=runtime.client("textract") if os.environ.get("EW_OCR_TOPIC_ARN") else None,
        ocr_topic_arn=os.environ.get("EW_OCR_TOPIC_ARN", ""),
        ocr_role_arn=os.environ.get("EW_OCR_ROLE_ARN", ""),
        clock=runtime.utc_now,
        config_path=runtime.env("EW_CONFIG_PATH", "/ew/config/"),
    )


def ocr_notices(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Textract's completion notices, as SNS delivers them (the message is JSON: JobId, Status, ...)."""
    found = []
    for record in event.get("Records", []):
        if record.get("EventSource") == "aws:sns":
            try:
                found.append(json.loads(record["Sns"]["Message"]))
            except (KeyError, ValueError):
                logger.warning("not a Textract notice", record=record)
    return found


def s3_objects(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) of each created object; S3 sends keys URL-encoded (a space as '+')."""
    found = []
    for record in event.get("Records", []):
        s3 = record.get("s3")
        if record.get("eventSource") == "aws:s3" and s3:
            found.append((s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
    return found


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    current = deps()
    results = []
    for bucket, key in s3_objects(event):
        result = run_intake(current, bucket, key)
        logger.info("mail taken", key=key, **result.as_dict())
        results.append(result.as_dict())
    for notice in ocr_notices(event):
        resumed = resume_after_ocr(current, notice)
        if resumed is not None:
            logger.info("mail read by OCR", job=notice.get("JobId"), **resumed.as_dict())
            results.append(resumed.as_dict())
    metrics.add_metric(
        name="ProposalsFromMail", unit=MetricUnit.Count, value=sum(r["outcome"] == PROPOSED for r in results)
    )
    metrics.add_metric(
        name="MailDropped", unit=MetricUnit.Count, value=sum(r["outcome"] == DROPPED for r in results)
    )
    return {"mails": results}
