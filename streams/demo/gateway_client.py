"""The demo's HTTP client for the gateway: POST a request, say what came back."""

from __future__ import annotations

import httpx

from schemas import GenerationRequest


class Gateway:
    def __init__(self, base_url: str, api_key: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.timeout_s = timeout_s

    async def submit(self, request: GenerationRequest, authorised: bool = True) -> str:
        """'202 lane=...' or 'STATUS code' from the problem document."""
        headers = {"Content-Type": "application/json", **(self.headers if authorised else {})}
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.post(
                "/v1/tasks", content=request.to_wire(), headers=headers, timeout=self.timeout_s
            )
        body = response.json()
        if response.status_code == 202:
            return f"202 lane={body.get('lane')}"
        retry = response.headers.get("Retry-After")
        return f"{response.status_code} {body.get('code')}" + (
            f" (Retry-After: {retry})" if retry else ""
        )

    async def healthy(self) -> bool:
        try:
            async with httpx.AsyncClient(base_url=self.base_url) as client:
                response = await client.get("/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200
