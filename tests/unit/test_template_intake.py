"""template.yaml, the mail lane: intake-parser on the raw-mime bucket's inbound/ prefix with its own
role (exact ARNs only); the buckets' lifecycle and SES's write permission. Its settings, DLQ, alarms,
environment and log group are checked with every function's in test_sam_template.py."""

from __future__ import annotations

from test_sam_template import (
    _allows,
    _as_list,
    _function_env,
    _getatt,
    _props,
    _role_statements,
)

RAW_MIME_INBOUND = "arn:${AWS::Partition}:s3:::${Prefix}-raw-mime-${AWS::AccountId}-${AWS::Region}/inbound/*"
PROFILE = (
    "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/"
    "global.anthropic.claude-haiku-4-5-20251001-v1:0"
)


def test_intake_parser_runs_on_each_mail_ses_stores_under_inbound() -> None:
    props = _props("IntakeParserFunction")
    trigger = props["Events"]["ForwardedMail"]
    assert trigger["Type"] == "S3"
    assert trigger["Properties"]["Bucket"] == {"Ref": "RawMimeBucket"}
    assert trigger["Properties"]["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "inbound/"}]
    # the bucket is named as ses-rules.yaml and the role's ARN spell it
    raw = _props("RawMimeBucket")
    assert raw["BucketName"] == {"Fn::Sub": "${Prefix}-raw-mime-${AWS::AccountId}-${AWS::Region}"}
    assert _function_env("IntakeParserFunction")["EW_SOURCE_BUCKET"] == {"Ref": "SourcePdfsBucket"}


def test_raw_mail_goes_to_glacier_at_30_days_and_is_deleted_at_7_years() -> None:
    (rule,) = _props("RawMimeBucket")["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 30}]
    assert rule["ExpirationInDays"] == 7 * 365


def test_intake_parser_role_reads_raw_mail_writes_source_files_and_nothing_more() -> None:
    role = _getatt(_props("IntakeParserFunction")["Role"])
    assert _props(role)["PermissionsBoundary"]["Fn::If"][0] == "HasPermissionsBoundary"
    assert _allows(role, "s3:GetObject", {"Fn::Sub": RAW_MIME_INBOUND})
    assert _allows(role, "s3:PutObject", {"Fn::Sub": "${SourcePdfsBucket.Arn}/*"})
    s3 = {a for s in _role_statements(role) for a in _as_list(s["Action"]) if a.startswith("s3:")}
    assert s3 == {"s3:GetObject", "s3:PutObject"}
    assert _allows(role, "dynamodb:PutItem", {"Fn::GetAtt": ["StateTable", "Arn"]})
    secrets = [r for s in _role_statements(role) if s["Action"] == "secretsmanager:GetSecretValue"
               for r in _as_list(s["Resource"])]  # fmt: skip
    assert [r["Fn::Sub"].rsplit(":", 1)[1] for r in secrets] == ["${Prefix}/slack/bot-token-??????"]
    bedrock = [s for s in _role_statements(role) if s["Action"] == "bedrock:InvokeModel"]
    assert len(bedrock) == 3 and bedrock[0]["Resource"] == {"Fn::Sub": PROFILE}
    for statement in bedrock[1:]:
        assert statement["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"] == {"Fn::Sub": PROFILE}
    for statement in _role_statements(role):
        if statement.get("Sid") == "Ocr":  # Textract's async API has no resource-level permissions
            assert statement["Action"] == [
                "textract:StartDocumentTextDetection",
                "textract:GetDocumentTextDetection",
            ]
            continue
        for resource in _as_list(statement["Resource"]):
            assert "*" not in str(resource).replace("/*", "").replace("??????", ""), statement


def test_only_ses_in_this_account_may_write_raw_mail() -> None:
    (allow,) = [
        s for s in _props("RawMimeBucketPolicy")["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"
    ]
    assert allow["Principal"] == {"Service": "ses.amazonaws.com"} and allow["Action"] == "s3:PutObject"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert allow["Resource"] == {"Fn::Sub": "${RawMimeBucket.Arn}/inbound/*"}


def test_scans_go_to_textract_which_tells_intake_parser_through_its_topic() -> None:
    props = _props("IntakeParserFunction")
    env = _function_env("IntakeParserFunction")
    assert env["EW_OCR_TOPIC_ARN"] == {"Ref": "OcrDoneTopic"}
    assert env["EW_OCR_ROLE_ARN"] == {"Fn::GetAtt": ["TextractNotifyRole", "Arn"]}
    assert props["Events"]["OcrDone"] == {"Type": "SNS", "Properties": {"Topic": {"Ref": "OcrDoneTopic"}}}
    notify = _props("TextractNotifyRole")
    (trust,) = notify["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "textract.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert [(s["Action"], s["Resource"]) for s in _role_statements("TextractNotifyRole")] == [
        ("sns:Publish", {"Ref": "OcrDoneTopic"})
    ]
    role = _getatt(props["Role"])
    (pass_role,) = [s for s in _role_statements(role) if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": ["TextractNotifyRole", "Arn"]}
    assert pass_role["Condition"]["StringEquals"] == {"iam:PassedToService": "textract.amazonaws.com"}
    assert _allows(role, "s3:GetObject", {"Fn::Sub": "${SourcePdfsBucket.Arn}/*"})
