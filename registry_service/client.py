"""A small typed HTTP client for the registry API, with a timeout on every call."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from registry_service.schemas import (
    DeploymentPublic,
    EntityPublic,
    EventPage,
    LiveSlot,
    Page,
    SwapDetail,
    SwapPublic,
)


class RegistryClientError(Exception):
    """The registry answered with an error status; `detail` is its message."""

    def __init__(self, status_code: int, detail: str, body: Any = None) -> None:
        super().__init__(f"registry answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.body = body


class RegistryClient:
    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1", headers=headers, timeout=timeout
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            try:
                body = response.json()
                detail = str(body.get("detail", body))
            except ValueError:
                body, detail = None, response.text
            raise RegistryClientError(response.status_code, detail, body)
        return response.json()

    def ready(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/ready")
        return result

    def create_entity(
        self,
        *,
        name: str,
        type: str,
        version: str,
        config: dict[str, Any] | None = None,
        description: str | None = None,
        config_schema: dict[str, Any] | None = None,
    ) -> EntityPublic:
        body = {"name": name, "type": type, "version": version, "config": config or {}}
        if description is not None:
            body["description"] = description
        if config_schema is not None:
            body["config_schema"] = config_schema
        return EntityPublic.model_validate(self._call("POST", "/entities", json=body))

    def get_entity(self, entity_id: str) -> EntityPublic:
        return EntityPublic.model_validate(self._call("GET", f"/entities/{entity_id}"))

    def list_entities(self, **filters: Any) -> Page[EntityPublic]:
        return Page[EntityPublic].model_validate(self._call("GET", "/entities", params=filters))

    def deploy(
        self, *, entity_id: str, environment: str, deployed_by: str, slot: str | None = None
    ) -> DeploymentPublic:
        body: dict[str, Any] = {
            "entity_id": entity_id,
            "environment": environment,
            "deployed_by": deployed_by,
        }
        if slot is not None:
            body["slot"] = slot
        return DeploymentPublic.model_validate(self._call("POST", "/deployments", json=body))

    def deactivate(self, deployment_id: str, *, reason: str | None = None) -> DeploymentPublic:
        return DeploymentPublic.model_validate(
            self._call("POST", f"/deployments/{deployment_id}/deactivate", json={"reason": reason})
        )

    def list_deployments(self, **filters: Any) -> Page[DeploymentPublic]:
        return Page[DeploymentPublic].model_validate(
            self._call("GET", "/deployments", params=filters)
        )

    def swap(
        self,
        *,
        from_entity_id: str,
        to_entity_id: str,
        reason: str,
        initiated_by: str,
        swap_type: str = "manual",
        environment: str = "production",
        idempotency_key: str | None = None,
    ) -> SwapPublic:
        body = {
            "from_entity_id": from_entity_id,
            "to_entity_id": to_entity_id,
            "reason": reason,
            "initiated_by": initiated_by,
            "swap_type": swap_type,
            "environment": environment,
        }
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return SwapPublic.model_validate(self._call("POST", "/swaps", json=body, headers=headers))

    def rollback(self, swap_id: str, *, reason: str, initiated_by: str) -> SwapPublic:
        body = {"reason": reason, "initiated_by": initiated_by}
        return SwapPublic.model_validate(
            self._call("POST", f"/swaps/{swap_id}/rollback", json=body)
        )

    def get_swap(self, swap_id: str) -> SwapDetail:
        return SwapDetail.model_validate(self._call("GET", f"/swaps/{swap_id}"))

    def live(self, *, environment: str, slot: str) -> LiveSlot:
        """What is live in the slot now, since when and by which swap."""
        return LiveSlot.model_validate(self._call("GET", f"/slots/{environment}/{slot}/live"))

    def acknowledge(
        self,
        swap_id: str,
        *,
        consumer: str,
        serving_since: datetime | None = None,
        old_served_until: datetime | None = None,
        error: str | None = None,
    ) -> SwapDetail:
        """A consumer serves the swap's target since `serving_since`, or (`error`) could not."""
        body: dict[str, Any] = {"consumer": consumer, "success": error is None}
        if error is not None:
            body["error"] = error
        if serving_since is not None:
            body["serving_since"] = serving_since.isoformat()
        if old_served_until is not None:
            body["old_served_until"] = old_served_until.isoformat()
        return SwapDetail.model_validate(self._call("POST", f"/swaps/{swap_id}/ack", json=body))

    def events(self, *, after: int = 0, limit: int = 100) -> EventPage:
        return EventPage.model_validate(
            self._call("GET", "/events", params={"after": after, "limit": limit})
        )
