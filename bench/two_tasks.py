"""8. Per instance against the floor (issue #16, target 1): a start → user task A → user
task B → end model, published like any other, driven through the REST API — server CPU,
SQL statements and commits per instance — beside bare SpiffWorkflow running the same file
in-process with JSON save/load (the floor), measured in the same run.

The model (``MODEL`` below): task A in the lane "Solicitante" (the requester's), task B in
the analysts' lane. Six API calls per instance, one client, after warm-up:

    requester: POST /processes/dois_passos/instances (201, returns task A)
               GET  /tasks                          (finds task A)
               POST /tasks/A/submit
    analyst:   GET  /queue?view=disponiveis          (finds task B)
               POST /tasks/B/claim                   (204)
               POST /tasks/B/submit                  (the instance ends)

One server worker per database (SQLite and PostgreSQL), alternating rounds with the
floor; server CPU from the worker's /proc stat. Statements and commits are counted on the
same calls through Flask's test client in this process (the server's code, no HTTP server).
The floor: parse once; per instance create + run to A, then for A and B: deserialize,
complete, run, serialize (three JSON saves, two loads).

Targets: ≤ 13 ms of server CPU per instance (SpiffArena's backend measured 132.5 ms on this
machine: ten times less) and ≤ 8× the floor.

    python -m bench.two_tasks [--quick] [--instances 200] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.common import median, note, table, title, verdict

TARGET_MS = 13.0
TARGET_RATIO = 8.0
PROCESS_ID = "dois_passos"
ANALYST_LANE = "Analista (CGATE/SGD)"
CALLS = ("iniciar", "listar", "enviar A", "fila", "assumir", "enviar B")

MODEL = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_dois" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collaboration_dois">
    <bpmn:participant id="Participant_dois" name="Dois passos" processRef="{PROCESS_ID}" />
  </bpmn:collaboration>
  <bpmn:process id="{PROCESS_ID}" name="Dois passos" isExecutable="true">
    <bpmn:laneSet id="LaneSet_dois">
      <bpmn:lane id="Lane_solicitante" name="Solicitante">
        <bpmn:flowNodeRef>inicio</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>tarefa_a</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="Lane_analista" name="{ANALYST_LANE}">
        <bpmn:flowNodeRef>tarefa_b</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>fim</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="inicio"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="tarefa_a" name="Tarefa A">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="tarefa-a-schema.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="tarefa_b" name="Tarefa B">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="tarefa-b-schema.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="fim" name="Concluído"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="inicio" targetRef="tarefa_a" />
    <bpmn:sequenceFlow id="f2" sourceRef="tarefa_a" targetRef="tarefa_b" />
    <bpmn:sequenceFlow id="f3" sourceRef="tarefa_b" targetRef="fim" />
  </bpmn:process>
</bpmn:definitions>
"""
FORMS = {
    "tarefa-a-schema.json": {
        "type": "object",
        "title": "Tarefa A",
        "properties": {"descricao": {"type": "string", "title": "Descrição", "maxLength": 500}},
        "required": ["descricao"],
    },
    "tarefa-b-schema.json": {
        "type": "object",
        "title": "Tarefa B",
        "properties": {"parecer": {"type": "string", "title": "Parecer", "maxLength": 500}},
        "required": ["parecer"],
    },
}
DATA_A = {"descricao": "Preciso de acesso ao painel de indicadores."}
DATA_B = {"parecer": "Concedido."}


def publish(svc: Any, work: Path) -> None:
    """Deploy the model as ``processes/`` models are: a published, immutable version."""
    import dataclasses

    processes, forms = work / "processes", work / "forms"
    processes.mkdir(exist_ok=True)
    forms.mkdir(exist_ok=True)
    (processes / f"{PROCESS_ID}.bpmn").write_text(MODEL, encoding="utf-8")
    for name, schema in FORMS.items():
        (forms / name).write_text(json.dumps(schema), encoding="utf-8")
    svc.settings = dataclasses.replace(svc.settings, processes_dir=processes, forms_dir=forms)
    with svc.unit.transaction() as session:
        assert PROCESS_ID in svc.deploy_processes(session)


def api_instance(api: common.ApiClient, maria: common.Person, ana: common.Person) -> None:
    started = api.call(
        "iniciar", "POST", f"/processes/{PROCESS_ID}/instances", maria.token, expect=201
    )
    cid = started["chamado"]["id"]
    tasks = api.call("listar", "GET", "/tasks", maria.token)
    a = next(i["task"]["id"] for i in tasks["items"] if i["chamado"]["id"] == cid)
    sent = api.call(
        "enviar A",
        "POST",
        f"/tasks/{a}/submit",
        maria.token,
        {"data": DATA_A, "version": started["chamado"]["version"]},
    )
    page = api.call("fila", "GET", "/queue?view=disponiveis", ana.token)
    b = next((i["task"]["id"] for i in page["items"] if i["chamado"]["id"] == cid), None)
    if b is None:
        raise common.HttpError(f"instância {cid} não está na primeira página da fila")
    api.call("assumir", "POST", f"/tasks/{b}/claim", ana.token, expect=204)
    done = api.call(
        "enviar B",
        "POST",
        f"/tasks/{b}/submit",
        ana.token,
        {"data": DATA_B, "version": sent["chamado"]["version"]},
    )
    if not done["chamado"]["closed_at"]:
        raise common.HttpError(f"instância {cid} não terminou: {done['chamado']['status']}")


class Floor:
    """The same file in bare SpiffWorkflow, with JSON save/load around each step."""

    def __init__(self) -> None:
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
        from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
        from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

        parser = SpiffBpmnParser()
        parser.add_bpmn_str(MODEL.encode("utf-8"))
        self.spec = parser.get_spec(PROCESS_ID)
        self.subprocess_specs = parser.get_subprocess_specs(PROCESS_ID)
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

    def instance(self) -> None:
        from SpiffWorkflow import TaskState
        from SpiffWorkflow.bpmn import BpmnWorkflow

        wf = BpmnWorkflow(self.spec, self.subprocess_specs)
        wf.do_engine_steps()
        state = self.serializer.serialize_json(wf)
        for data in (DATA_A, DATA_B):
            wf = self.serializer.deserialize_json(state)
            task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
            state = self.serializer.serialize_json(wf)
        if not wf.is_completed():
            raise RuntimeError("o fluxo puro não terminou")


def floor_ms(floor: Floor, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t = time.process_time()
        floor.instance()
        samples.append((time.process_time() - t) * 1000)
    return samples


def count_statements(url: str, work: Path, n: int) -> dict[str, Any]:
    """Statements and commits of the six calls, through Flask's test client in process."""
    with common.inprocess_app(url, work) as app:
        svc = app.extensions["chamados"]
        maria, ana = common.client_pairs(svc, 1, 300_000)[0]
        api = common.ApiClient(transport=common.flask_transport(app.test_client()))
        for _ in range(3):
            api_instance(api, maria, ana)
        with common.count_sql(svc.unit.db) as counts:
            api.sql_counter = counts
            for _ in range(n):
                api_instance(api, maria, ana)
        return {
            "statements": counts["statements"] / n,
            "commits": counts["commits"] / n,
            "checkouts": counts["checkouts"] / n,
            "by_call": {label: median(v) for label, v in api.sql.items()},
        }


def run_backend(kind: str, instances: int, rounds: int, floor: Floor) -> dict[str, Any]:
    with common.workdir(f"dois-{kind}") as work, common.TempDatabase(kind, work) as db:
        svc = common.make_service(db.url, work)
        publish(svc, work)
        maria, ana = common.client_pairs(svc, 1, 200_000)[0]
        svc.unit.db.dispose()
        sql = count_statements(db.url, work, 20)
        instance = work / "server"
        instance.mkdir()
        server_ms: list[float] = []
        floor_samples: list[float] = []
        latencies: dict[str, list[float]] = {}
        with common.Server(db.url, instance, workers=1) as server:
            api = common.ApiClient(server.port)
            for _ in range(10):  # warm-up: specs parsed, caches filled
                api_instance(api, maria, ana)
            floor_ms(floor, 20)
            per_round = max(1, instances // rounds)
            wall = 0.0
            for _ in range(rounds):
                cpu0, t0 = server.cpu(), time.perf_counter()
                for _ in range(per_round):
                    api_instance(api, maria, ana)
                wall += time.perf_counter() - t0
                server_ms.append((server.cpu() - cpu0) / per_round * 1000)
                floor_samples.extend(floor_ms(floor, per_round))
            for label, values in api.latencies.items():
                latencies[label] = values
        server_cpu = median(server_ms)
        floor_cpu = median(floor_samples)
        return {
            "database": kind,
            "instances": per_round * rounds,
            "server_cpu_ms": server_cpu,
            "server_cpu_rounds": server_ms,
            "floor_ms": floor_cpu,
            "ratio": server_cpu / floor_cpu,
            "per_second": per_round * rounds / wall,
            **sql,
            "p50_ms": {k: median(v) * 1000 for k, v in latencies.items()},
        }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="menos instâncias (~1 min)")
    parser.add_argument("--instances", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--profile", action="store_true", help="(sem efeito aqui)")
    args = parser.parse_args(argv)
    instances = args.instances or (100 if args.quick else 300)

    title("8. Por instância: início → tarefa A → tarefa B → fim pela API REST, contra o piso")
    note(
        f"{instances} instâncias por banco, 6 chamadas cada, um cliente, 1 worker do servidor, "
        f"em {args.rounds} rodadas alternadas com o piso (SpiffWorkflow puro, mesmo arquivo, "
        "com salvar/carregar JSON)."
    )
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    if "postgresql" in kinds and (why := common.postgres_available()):
        note(f"PostgreSQL indisponível ({why}): só SQLite.")
        kinds.remove("postgresql")
    floor = Floor()
    floor_ms(floor, 20)
    results = [run_backend(k, instances, args.rounds, floor) for k in kinds]
    table(
        [
            "banco",
            "CPU servidor ms/instância",
            "piso ms",
            "× piso",
            "instâncias/s",
            "comandos SQL",
            "commits",
            "conexões do pool",
        ],
        [
            [
                r["database"],
                f"{r['server_cpu_ms']:.2f}",
                f"{r['floor_ms']:.2f}",
                f"{r['ratio']:.1f}×",
                f"{r['per_second']:.1f}",
                f"{r['statements']:.0f}",
                f"{r['commits']:.0f}",
                f"{r['checkouts']:.0f}",
            ]
            for r in results
        ],
    )
    table(
        [
            "chamada",
            *[f"{r['database']}: comandos" for r in results],
            *[f"{r['database']}: p50 ms" for r in results],
        ],
        [
            [
                call,
                *[f"{r['by_call'].get(call, 0):.0f}" for r in results],
                *[f"{r['p50_ms'].get(call, 0):.1f}" for r in results],
            ]
            for call in CALLS
        ],
    )
    note(
        "referência (issue #16, mesma máquina): backend do SpiffArena 132,5 ms de CPU e "
        "269 comandos / 17 commits por instância."
    )
    verdicts = []
    for r in results:
        met = r["server_cpu_ms"] <= TARGET_MS and r["ratio"] <= TARGET_RATIO
        verdicts.append(
            verdict(
                met,
                f"{r['database']}: ≤ 13 ms de CPU do servidor por instância e ≤ 8× o piso "
                f"(medido: {r['server_cpu_ms']:.1f} ms, {r['ratio']:.1f}× {r['floor_ms']:.2f} ms)",
                f"rodadas {', '.join(f'{x:.1f}' for x in r['server_cpu_rounds'])} ms",
            )
        )
    common.save_results("two_tasks", {"results": results})
    return {"verdicts": verdicts, "results": results}


if __name__ == "__main__":
    main()
