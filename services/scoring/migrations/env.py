from sqlmodel import SQLModel

from steward.kit.migrations import run_env
from steward.scoring import models  # noqa: F401

run_env(SQLModel.metadata)
