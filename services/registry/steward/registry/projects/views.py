from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.projects import bulk, gaps, import_columns, importer, lifecycle, listing, service
from steward.registry.projects.schemas import (
    Dispatch,
    FundingType,
    HistoryOut,
    ImportNote,
    KeyLevel,
    ProjectBatchIn,
    ProjectBatchOut,
    ProjectCreate,
    ProjectFilter,
    ProjectImportOut,
    ProjectList,
    ProjectOut,
    ProjectUpdate,
    RegisteredItem,
    StageChangeOut,
    TransitionIn,
)
from steward.registry.projects.stages import Stage, allowed_targets

router = APIRouter(prefix="/v1/projects", tags=["projects"], dependencies=[Depends(clean_request)])


def project_filter(
    tenant: str | None = None,
    stage: Annotated[list[Stage] | None, Query()] = None,
    tier: Annotated[list[str] | None, Query()] = None,
    key_level: Annotated[list[KeyLevel] | None, Query()] = None,
    funding_type: FundingType | None = None,
    steward_required: bool | None = None,
    national_code: Annotated[
        str | None, Query(max_length=24, description="全国投资项目代码, with or without dashes")
    ] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> ProjectFilter:
    """The project list's query filters (also used by the map)."""
    return ProjectFilter(
        tenant=tenant,
        stages=stage or [],
        tiers=tier or [],
        key_levels=key_level or [],
        funding_type=funding_type,
        steward_required=steward_required,
        national_code=national_code,
        q=q,
    )


ProjectFilterDep = Annotated[ProjectFilter, Depends(project_filter)]


@router.post(
    "", response_model=ProjectOut, status_code=201, summary="Register a project (gets its lifetime code)"
)
async def register(db: DatabaseDep, principal: PrincipalDep, body: ProjectCreate) -> ProjectOut:
    # reads without BEGIN, then one statement alone: no SQLAlchemy transaction (kit.pooled.lone_session)
    async with db.lone() as session:
        return service.to_out(await service.register(session, principal=principal, data=body))


def _registered(created: list[bulk.Created], indexes: list[int]) -> list[RegisteredItem]:
    """The answer's items, built without validating again what the service computed (one
    ``Dispatch`` per distinct derivation)."""
    dispatch: dict[int, Dispatch] = {}
    out = []
    for index, p in zip(indexes, created, strict=True):
        d = dispatch.get(id(p.derivation))
        if d is None:
            d = dispatch[id(p.derivation)] = p.dispatch()
        out.append(
            RegisteredItem.model_construct(
                index=index, id=p.id, code=p.code, tenant=p.tenant, name=p.name, dispatch=d
            )
        )
    return out


def _json(model: BaseModel, status_code: int) -> Response:
    """A large answer serialised once (FastAPI would dump and validate the model again first)."""
    return Response(content=model.model_dump_json(), media_type="application/json", status_code=status_code)


@router.post(
    "/bulk",
    response_model=ProjectBatchOut,
    status_code=201,
    summary="Register up to 1,000 projects at once, all or nothing (docs/registry-import.md)",
    description="Each item is a `POST /v1/projects` body, checked by the same rules. Any bad item: 422 "
    "`batch_invalid` listing every problem (`index`, `field`, `message`, `type`) and nothing is "
    "written. More than 1,000 items: 413 `too_many_items`.",
)
async def register_bulk(db: DatabaseDep, principal: PrincipalDep, body: ProjectBatchIn) -> Response:
    async with db.transaction() as session:
        projects = await bulk.register_many(session, principal=principal, raw=body.items)
    items = _registered(projects, list(range(len(projects))))
    return _json(ProjectBatchOut.model_construct(count=len(projects), items=items), 201)


@router.post(
    "/import",
    response_model=ProjectImportOut,
    summary="Import the projects of an .xlsx or .csv sheet, all or nothing (docs/registry-import.md)",
    description="Multipart upload (`file`). Every row is validated like `POST /v1/projects`; any bad "
    "row: 422 `import_invalid` listing each problem (`row` as in the sheet, `column`, `message`) and "
    "nothing is written. `dry_run=true` validates only. At most 10,000 data rows (413 `too_many_rows`) "
    "and 8 MiB (413).",
)
async def import_projects(
    db: DatabaseDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description=".xlsx (first sheet) or .csv (UTF-8, BOM optional)")],
    dry_run: bool = False,
    tenant: Annotated[
        str | None, Query(max_length=12, description="Tenant of rows without a 所属地区 column")
    ] = None,
) -> Response:
    data = await file.read(importer.MAX_BYTES + 1)
    parsed = await importer.read_file(
        principal=principal, data=data, filename=file.filename or "", tenant=tenant
    )
    async with db.read() as session:
        await importer.resolve_tenants(session, principal=principal, parsed=parsed)
    items = await importer.validate(parsed)
    async with db.transaction() as session:
        created = await importer.register_rows(
            session, principal=principal, parsed=parsed, items=items, dry_run=dry_run
        )
    out = ProjectImportOut(
        dry_run=dry_run,
        rows=len(parsed.raw),
        created=len(created),
        header_row=parsed.layout.header_row,
        columns={parsed.layout.headers[i]: f for i, f in sorted(parsed.layout.fields.items())},
        ignored_columns=parsed.layout.ignored,
        warnings=[ImportNote(row=r, column=c, message=m) for r, c, m in parsed.warnings],
        items=_registered(created, parsed.rows[: len(created)]),
    )
    return _json(out, 200)


@router.get(
    "/import/template.xlsx",
    summary="The import sheet's template: the accepted columns, and a sheet explaining them",
    response_class=Response,
    # the media type is named, not declared: client generators have no type for an .xlsx body
    responses={200: {"description": f"An .xlsx workbook (`{importer.XLSX}`)"}},
)
async def import_template(principal: PrincipalDep) -> Response:
    return Response(
        content=import_columns.template(),
        media_type=importer.XLSX,
        headers={"Content-Disposition": 'attachment; filename="projects-import-template.xlsx"'},
    )


@router.get("", response_model=ProjectList, summary="Projects in a tenant subtree, newest first")
async def list_projects(
    db: DatabaseDep,
    principal: PrincipalDep,
    f: ProjectFilterDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    async with db.read() as session:
        page = await listing.list_page(session, principal=principal, f=f, limit=limit, cursor=cursor)
    return _json(page, 200)  # validated once in list_page: the bytes FastAPI would write for it


@router.get(
    "/gaps/national-code",
    response_model=ProjectList,
    summary="Data-quality gap: projects at or past the preparing stage without a national project code",
)
async def national_code_gaps(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ProjectList:
    async with db.read() as session:
        rows, nxt = await gaps.national_code_gaps(
            session, principal=principal, tenant=tenant, limit=limit, cursor=cursor
        )
        return ProjectList(items=[service.to_out(p) for p in rows], next_cursor=nxt)


@router.get("/{id_or_code}", response_model=ProjectOut)
async def get_project(db: DatabaseDep, principal: PrincipalDep, id_or_code: str) -> ProjectOut:
    return service.to_out(await service.read_project(db, principal=principal, id_or_code=id_or_code))


@router.patch("/{id_or_code}", response_model=ProjectOut)
async def update_project(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, body: ProjectUpdate
) -> ProjectOut:
    async with db.transaction() as session:
        return service.to_out(
            await service.update(session, principal=principal, id_or_code=id_or_code, data=body)
        )


@router.post(
    "/{id_or_code}/transitions", response_model=ProjectOut, summary="Move the project to another stage"
)
async def transition(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, body: TransitionIn
) -> ProjectOut:
    async with db.transaction() as session:
        project = await lifecycle.transition(
            session, principal=principal, id_or_code=id_or_code, to_stage=body.to_stage, reason=body.reason
        )
        return service.to_out(project)


@router.get("/{id_or_code}/history", response_model=HistoryOut, summary="Lifecycle history: who, when, why")
async def history(db: DatabaseDep, principal: PrincipalDep, id_or_code: str) -> HistoryOut:
    async with db.read() as session:
        project = await service.get_project(session, principal=principal, id_or_code=id_or_code)
        rows = await lifecycle.history(session, project=project)
        before = Stage(project.stage_before_suspension) if project.stage_before_suspension else None
        return HistoryOut(
            project_id=project.id,
            items=[
                StageChangeOut(
                    from_stage=Stage(r.from_stage) if r.from_stage else None,
                    to_stage=Stage(r.to_stage),
                    reason=r.reason,
                    actor=r.actor,
                    at=r.at,
                )
                for r in rows
            ],
            allowed_next=sorted(allowed_targets(Stage(project.stage), before_suspension=before)),
        )
