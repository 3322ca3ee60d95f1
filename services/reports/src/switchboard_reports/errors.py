"""Why a report cannot be made: these fail the report at once (`report-failed`), never retried."""

from __future__ import annotations

from switchboard_shared.failures import ValidationFailure


class ReportError(ValidationFailure):
    """The report asked for cannot be made as asked."""


class ReportTooLarge(ReportError):
    def __init__(self, size: int, cap: int) -> None:
        super().__init__(
            f"report exceeds the file-size cap: {size:,} bytes written, cap {cap:,} bytes "
            "(REPORTS_MAX_FILE_BYTES); ask for a shorter period"
        )
        self.size, self.cap = size, cap
