"""The Python SDK: build a job as components wired together, compile it to a job config, run it.

from unseen.pipeline import Pipeline

pipe = Pipeline("breast", initiator=("guest", 9999), guest=9999, host=10000, arbiter=10000)
reader = pipe.add("reader_0", "reader", role_params={"guest": {"table": "exp.breast_guest"},
                                                     "host": {"table": "exp.breast_host"}})
psi = pipe.add("psi_0", "psi", inputs={"data": reader["data"]})
job = pipe.submit()
job.wait()
print(job.metrics())
"""

from unseen.pipeline.builder import ComponentHandle, JobHandle, OutputRef, Pipeline

__all__ = ["ComponentHandle", "JobHandle", "OutputRef", "Pipeline"]
