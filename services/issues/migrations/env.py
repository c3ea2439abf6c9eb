from sqlmodel import SQLModel

from steward.issues import models  # noqa: F401
from steward.kit.migrations import run_env

run_env(SQLModel.metadata)
