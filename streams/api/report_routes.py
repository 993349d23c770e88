"""Past reports, served from the archive: the list, each rendered report, and its files.

Chart PNGs linked from Slack messages carry a signed, expiring URL (`reports.signing_key`), so
Slack can fetch them without a token; everything else needs a reader.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from earful.settings import Settings
from streams.api.auth import Principal
from streams.report_runner import sign

FILES = {"report.html", "report.pdf", "report.txt", "slack.json"}
MEDIA = {
    ".html": "text/html",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".json": "application/json",
    ".png": "image/png",
}


def _safe(part: str) -> str:
    if not part or "/" in part or "\\" in part or part.startswith("."):
        raise HTTPException(404, "no such report")
    return part


def report_router(settings: Settings, may_read: Any) -> APIRouter:
    router = APIRouter(tags=["reports"])
    root = settings.reports.archive_dir

    def folder(name: str, period: str) -> Path:
        path = root / _safe(name) / _safe(period)
        if not (path / "meta.json").is_file():
            raise HTTPException(404, f"no rendered report {name} {period}")
        return path

    @router.get("/api/reports")
    async def list_reports(_: Principal = may_read) -> dict[str, Any]:
        """Rendered reports in the archive, newest period first."""
        return {"reports": await asyncio.to_thread(archived)}

    def archived() -> list[dict[str, Any]]:
        rows = []
        for meta in sorted(root.glob("*/*/meta.json")):
            info = json.loads(meta.read_text(encoding="utf-8"))
            name, period = meta.parent.parent.name, meta.parent.name
            rows.append(
                {
                    "name": name,
                    "period": period,
                    "title": info.get("title", name),
                    "period_text": info.get("period_text", period),
                    "language": info.get("language", "en"),
                    "narrative": info.get("narrative", []),
                    "html": f"/reports/{name}/{period}/report.html",
                    "pdf": f"/reports/{name}/{period}/report.pdf",
                    "rendered_at": meta.stat().st_mtime,
                }
            )
        rows.sort(key=lambda r: (r["period"], r["rendered_at"]), reverse=True)
        return rows

    @router.get("/reports/{name}/{period}/{file}")
    async def report_file(
        name: str, period: str, file: str, _: Principal = may_read
    ) -> FileResponse:
        path = folder(name, period) / _safe(file)
        if not path.is_file() or (file not in FILES and not file.endswith(".png")):
            raise HTTPException(404, "no such file")
        return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"))

    @router.get("/reports/files/{name}/{period}/{file}")
    async def signed_file(
        name: str, period: str, file: str, expires: int, sig: str, request: Request
    ) -> FileResponse:
        """A chart by signed URL (what Slack fetches); refused once expired or altered."""
        key = settings.reports.signing_key
        if key is None:
            raise HTTPException(404, "signed links are off (no reports.signing_key)")
        expected = sign(key.get_secret_value(), request.url.path, expires)
        if not hmac.compare_digest(expected, sig):
            raise HTTPException(403, "bad signature")
        if expires < time.time():
            raise HTTPException(410, "this link has expired")
        path = folder(name, period) / _safe(file)
        if not path.is_file() or not file.endswith(".png"):
            raise HTTPException(404, "no such chart")
        return FileResponse(path, media_type="image/png")

    return router
