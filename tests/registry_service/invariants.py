"""Invariants every registry state must satisfy, checked straight in the database."""

from __future__ import annotations

import itertools
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry_service.lifecycle import DeploymentStatus, EntityStatus, SwapStatus
from registry_service.models import Deployment, Entity, SlotActivation, Swap


def assert_registry_invariants(session: Session) -> None:
    # 1. At most one active deployment per (environment, slot).
    crowded = session.execute(
        select(Deployment.environment, Deployment.slot, func.count())
        .where(Deployment.status == DeploymentStatus.ACTIVE)
        .group_by(Deployment.environment, Deployment.slot)
        .having(func.count() > 1)
    ).all()
    assert crowded == [], f"slots with several active deployments: {crowded}"

    # 2. The activation history agrees with the deployments: open periods are the live ones,
    #    and the periods of one slot never overlap.
    deployments = {d.deployment_id: d for d in session.scalars(select(Deployment))}
    activations = session.scalars(select(SlotActivation).order_by(SlotActivation.activated_at))
    by_slot: dict[tuple[str, str], list[SlotActivation]] = defaultdict(list)
    open_ids = set()
    for activation in activations:
        by_slot[(activation.environment, activation.slot)].append(activation)
        if activation.deactivated_at is None:
            open_ids.add(activation.deployment_id)
    active_ids = {i for i, d in deployments.items() if d.status == DeploymentStatus.ACTIVE}
    assert open_ids == active_ids, "open activations differ from active deployments"
    for slot, periods in by_slot.items():
        for earlier, later in itertools.pairwise(periods):
            assert earlier.deactivated_at is not None, f"{slot}: two open periods"
            assert earlier.deactivated_at <= later.activated_at, f"{slot}: overlapping periods"

    # 3. Entity statuses follow their deployments.
    live_envs: dict[object, set[str]] = defaultdict(set)
    for d in deployments.values():
        if d.status == DeploymentStatus.ACTIVE:
            live_envs[d.entity_id].add(d.environment)
    for entity in session.scalars(select(Entity)):
        envs = live_envs[entity.entity_id]
        if entity.status == EntityStatus.RETIRED:
            assert not envs, f"retired {entity.name} {entity.version} is live in {envs}"
        elif "production" in envs:
            assert entity.status == EntityStatus.ACTIVE, (entity.version, entity.status, envs)
        elif envs:
            assert entity.status == EntityStatus.DEPLOYED, (entity.version, entity.status, envs)
        else:
            assert entity.status in (
                EntityStatus.REGISTERED,
                EntityStatus.VALIDATED,
                EntityStatus.INACTIVE,
            ), (entity.version, entity.status)

    # 4. Every completed swap is explained by the history: it closed the period of the
    #    deployment it replaced and opened the one of the deployment it put live.
    activations_by_swap: dict[object, list[SlotActivation]] = defaultdict(list)
    for periods in by_slot.values():
        for a in periods:
            if a.activated_by_swap_id:
                activations_by_swap[a.activated_by_swap_id].append(a)
    for swap in session.scalars(select(Swap)):
        if swap.status == SwapStatus.FAILED:
            assert activations_by_swap[swap.swap_id] == [], "a failed swap changed the slot"
            continue
        opened = activations_by_swap[swap.swap_id]
        assert [a.deployment_id for a in opened] == [swap.to_deployment_id]
        closed = [
            a
            for periods in by_slot.values()
            for a in periods
            if a.deactivated_by_swap_id == swap.swap_id
        ]
        assert [a.deployment_id for a in closed] == [swap.from_deployment_id]
        assert swap.committed_at is not None
        assert swap.duration_ms is not None
        assert swap.duration_ms >= 0
