"""Pipeline tests' shared pieces: `byoc pipeline upsert`'s arguments and their Python request,
and moto's SageMaker with the few calls moto lacks answered by botocore's Stubber."""

from __future__ import annotations

from byoc import api
from byoc.driver.aws import Aws, connect

NAME = "signs-pipeline"
GATE = "test:accuracy>=0.9"
GROUP = "signs"


def upsert_argv(image: str, role: str, data, *flags: str, name: str = NAME,
                gate: str = GATE) -> list[str]:
    """`byoc pipeline upsert` of byoc's trainer on `data`, gated on `gate`, into group signs."""
    return ["pipeline", "upsert", name, "--image", image, "--data", str(data), "--role", role,
            "--gate", gate, "--group", GROUP, *flags]


def pipeline_request(image: str, role: str, data, name: str = NAME,
                     **training) -> api.PipelineRequest:
    """The same pipeline as `upsert_argv`'s, as the Python API takes it."""
    return api.PipelineRequest(name, api.TrainingRequest(image=image, data=str(data), role=role,
                                                         **training),
                               gate=GATE, group=GROUP)


class _SageMaker:
    """moto's SageMaker client, but the calls named in `stubbed_calls` go to the stubbed one."""

    def __init__(self, moto, stubbed, stubbed_calls) -> None:
        self.moto, self.stubbed, self.stubbed_calls = moto, stubbed, stubbed_calls

    def __getattr__(self, name: str):
        if name == "get_paginator":
            return lambda op: (self.stubbed if op in self.stubbed_calls else self.moto
                               ).get_paginator(op)
        return getattr(self.stubbed if name in self.stubbed_calls else self.moto, name)


class MotoWithStubs(Aws):
    """The session on moto's server, whose SageMaker `calls` go to the `stubbed` client."""

    def __init__(self, stubbed, *calls: str) -> None:
        aws = connect()
        super().__init__(session=aws.session, region=aws.region)
        self.stubbed, self.calls = stubbed, calls

    def client(self, service: str, **config):
        real = super().client(service, **config)
        return _SageMaker(real, self.stubbed, self.calls) if service == "sagemaker" else real
