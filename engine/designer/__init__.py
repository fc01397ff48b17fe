"""The "Processos" area: drafts, validation, scenarios, versions, migration, diagrams.

Modules: ``validation`` (every problem of a model), ``drafts`` (work in progress
with a version check), ``template`` (a new model), ``xmledit`` (safe XML edits),
``publishing`` (immutable versions), ``migration`` (moving running tickets),
``diagram`` (a ticket's completed and current steps), ``sandbox`` (a draft stepped by
hand in memory, "Executar teste"), ``views`` (what pages show), ``access`` (the designer
role) and the use cases, one transaction each: ``service.Designer`` (drafts and
versions), ``sandbox_runs.SandboxRuns`` (test runs) and ``tickets.Tickets`` (running
tickets).
"""

from engine.designer.service import Designer
from engine.designer.tickets import Tickets
from engine.designer.validation import ModelRejected, Problem

__all__ = ["Designer", "ModelRejected", "Problem", "Tickets"]
