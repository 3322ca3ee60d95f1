"""Reports on S3 (or anything speaking its API) through boto3: SSE option, presigned downloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .storage import Stored


class S3Storage:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        sse: str = "",
        kms_key_id: str | None = None,
        presign_seconds: int = 3600,
    ) -> None:
        self.bucket, self.prefix = bucket, prefix
        self.client = client or boto3.client("s3")
        self.sse, self.kms_key_id = sse, kms_key_id
        self.presign_seconds = presign_seconds

    @classmethod
    def from_settings(cls, settings: Any) -> S3Storage:
        client = boto3.client(
            "s3",
            region_name=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
            config=Config(
                signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}
            ),
        )
        return cls(
            settings.s3_bucket,
            settings.s3_prefix,
            client=client,
            sse=settings.s3_sse,
            kms_key_id=settings.s3_kms_key_id,
            presign_seconds=settings.presign_seconds,
        )

    def _extra_args(self, content_type: str) -> dict[str, str]:
        extra = {"ContentType": content_type}
        if self.sse:
            extra["ServerSideEncryption"] = self.sse
        if self.sse == "aws:kms" and self.kms_key_id:
            extra["SSEKMSKeyId"] = self.kms_key_id
        return extra

    def _key(self, location: str) -> str:
        bucket, _, key = location.removeprefix("s3://").partition("/")
        if bucket != self.bucket:
            raise ValueError(f"{location} is not in bucket {self.bucket}")
        return key

    def put(self, key: str, source: Path, content_type: str) -> Stored:
        object_key = f"{self.prefix}{key}"
        # upload_file streams from disk and switches to multipart for large files.
        self.client.upload_file(
            str(source), self.bucket, object_key, ExtraArgs=self._extra_args(content_type)
        )
        location = f"s3://{self.bucket}/{object_key}"
        url, expires = self.download_url(location)
        return Stored(location, source.stat().st_size, url, expires)

    def download_url(self, location: str) -> tuple[str, datetime]:
        url = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(location)},
            ExpiresIn=self.presign_seconds,
        )
        return url, datetime.now(UTC) + timedelta(seconds=self.presign_seconds)

    def delete(self, location: str) -> bool:
        if not self.exists(location):
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self._key(location))
        return True

    def exists(self, location: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(location))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True
