"""Walking a SpiffWorkflow instance's tasks, its sub-processes' included.

Its own module so that modules engine.runtime depends on (engine.messages, through
engine.specs) can walk an instance too without importing the runtime.
"""

from __future__ import annotations

from collections.abc import Iterator

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.task import Task


def all_tasks(wf: BpmnWorkflow) -> Iterator[Task]:
    """Every task of the workflow and its subprocesses, in creation order.

    Reads the workflows' task dictionaries instead of walking the task tree (what
    ``get_tasks`` does, several times slower): for filters on state alone the order
    and depth of the walk do not matter.
    """
    yield from wf.tasks.values()
    for subprocess in wf.subprocesses.values():
        yield from subprocess.tasks.values()
