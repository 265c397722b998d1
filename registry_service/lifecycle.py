"""Entity and deployment vocabularies and the entity status life cycle.

    registered ──► validated ──► deployed / active ◄──► inactive ──► retired

`registered` and `validated` are set by people. `deployed` (an active deployment outside
production), `active` (live in production) and `inactive` (was deployed, nothing active now)
follow the entity's deployments and are set by the registry. `retired` is final and needs
every deployment of the entity to be inactive first.
"""

from __future__ import annotations

from enum import StrEnum


class EntityType(StrEnum):
    STRATEGY = "strategy"
    MODEL = "model"
    FEATURE_SET = "feature_set"
    PIPELINE = "pipeline"


class EntityStatus(StrEnum):
    REGISTERED = "registered"
    VALIDATED = "validated"
    DEPLOYED = "deployed"
    ACTIVE = "active"
    INACTIVE = "inactive"
    RETIRED = "retired"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class DeploymentStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


# Transitions a client may ask for with PATCH / retire. Deployment-driven statuses are
# reached only through deployments, so a client can never claim an entity is live.
MANUAL_TRANSITIONS: dict[EntityStatus, frozenset[EntityStatus]] = {
    EntityStatus.REGISTERED: frozenset({EntityStatus.VALIDATED, EntityStatus.RETIRED}),
    EntityStatus.VALIDATED: frozenset({EntityStatus.RETIRED}),
    EntityStatus.DEPLOYED: frozenset({EntityStatus.RETIRED}),
    EntityStatus.ACTIVE: frozenset({EntityStatus.RETIRED}),
    EntityStatus.INACTIVE: frozenset({EntityStatus.RETIRED}),
    EntityStatus.RETIRED: frozenset(),
}

DEPLOYMENT_DRIVEN = frozenset({EntityStatus.DEPLOYED, EntityStatus.ACTIVE, EntityStatus.INACTIVE})


def manual_transition_error(current: EntityStatus, target: EntityStatus) -> str | None:
    """Why `current → target` is not allowed for a client, or None when it is."""
    if current == target:
        return None
    if target in DEPLOYMENT_DRIVEN:
        return (
            f"status '{target}' is set by the registry from deployments; "
            "create or deactivate a deployment instead"
        )
    if target not in MANUAL_TRANSITIONS[current]:
        allowed = ", ".join(sorted(MANUAL_TRANSITIONS[current])) or "none (final)"
        return f"cannot move from '{current}' to '{target}'; allowed from '{current}': {allowed}"
    return None


def status_from_deployments(
    current: EntityStatus, active_environments: set[Environment]
) -> EntityStatus:
    """The entity status implied by the environments it is actively deployed in."""
    if current == EntityStatus.RETIRED:
        return current
    if Environment.PRODUCTION in active_environments:
        return EntityStatus.ACTIVE
    if active_environments:
        return EntityStatus.DEPLOYED
    if current in (EntityStatus.DEPLOYED, EntityStatus.ACTIVE):
        return EntityStatus.INACTIVE
    return current


class SwapType(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    AUTOMATIC = "automatic"
    EMERGENCY = "emergency"
    ROLLBACK = "rollback"


class SwapStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
