"""The Great Expectations suite an action table must pass before it is cut into training chunks.

`table_frame` flattens an action table (padflow.tables) into the DataFrame the suite checks,
with derived columns (per-stick axes, timing error, low-confidence flag, longest button hold,
localization inliers). `build_suite` lists the expectations — schema, dtypes, contiguous frames,
length, timing, value ranges, confidence, stuck buttons, localization strength — each tagged with
the quarantine reason it stands for (`meta.reason`). `TableValidator` holds them in an ephemeral
Great Expectations context and validates one table at a time, optionally writing Data Docs.
`table_reasons` judges one action table as the gate stage does; `reading_reasons` judges a reading
before it is written as one (the reading benches' verdict on each clip).

The thresholds come from the gate stage's config (params.yaml `gate`); the suite takes any object
that has them (`SuiteLimits`).

Unobserved controls (padflow.tables: controls the overlay's skin does not draw) are not labels:
their cells hold neutral values that say nothing, so no expectation judges them — the value
expectations of an unobserved axis are left out of the suite, and an unobserved button never
counts towards a stuck hold. Their columns still exist, so schema and dtype are checked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

from padflow.actions import ACTION_INDEX, NITROGEN_BUTTON_COLUMNS
from padflow.tables import ACTION_TABLE_SCHEMA, actions_to_table, table_observed, table_unobserved

if TYPE_CHECKING:
    import pandas as pd

SUITE_NAME = "action_table"
DOCS_SITE = "padflow_gate"
DEFAULT_MIN_INLIERS = 20  # NitroGen's localization bar, when params.yaml names none
AXIS_COLUMNS = ("left_x", "left_y", "right_x", "right_y")  # table_frame's split of j_left / j_right


class SuiteLimits(Protocol):
    """The thresholds the suite reads (the gate stage's config has these fields; see its descriptions)."""

    max_frame_count_error: int
    timing_tolerance_s: float
    min_confidence: float
    max_low_confidence_share: float
    max_button_hold_s: float
    min_inliers: int | None


def table_frame(table: pa.Table, fps: float, inliers: int | None, min_confidence: float) -> pd.DataFrame:
    """An action table as a flat DataFrame with the derived columns the suite checks.

    Sticks are split into left_x ... right_y; `t_error` = t - frame/fps; `low_confidence`;
    `low_confidence` = confidence < min_confidence (as 0/1); `hold_s` = how long the
    longest-held observed button has been held at each frame; `inliers` repeats the
    localization's inlier count on every row so a row-wise suite can check it (no such column
    when `inliers` is None).
    """
    observed = table_observed(table)
    df = table.to_pandas()
    for column, (x, y) in (("j_left", AXIS_COLUMNS[:2]), ("j_right", AXIS_COLUMNS[2:])):
        if column in df:
            xy = np.array([v if v is not None and len(v) == 2 else (np.nan, np.nan) for v in df[column]], np.float32)
            xy = xy.reshape(-1, 2)
            df[x], df[y] = xy[:, 0], xy[:, 1]
            df = df.drop(columns=column)
    if "frame" in df and "t" in df:
        df["t_error"] = df["t"].astype(float) - df["frame"].astype(float) / fps
    if "confidence" in df:
        df["low_confidence"] = (df["confidence"].astype(float) < min_confidence).astype(float)
    buttons = [c for c in NITROGEN_BUTTON_COLUMNS if c in df and observed[ACTION_INDEX[c.upper()]]]
    df["hold_s"] = longest_hold(df[buttons].to_numpy(dtype=bool) if buttons else np.zeros((len(df), 0), bool)) / fps
    if inliers is not None:
        df["inliers"] = inliers
    return df


def longest_hold(pressed: np.ndarray) -> np.ndarray:
    """(T, B) bool → (T,) frames the longest-running held button has been held at each frame."""
    run = np.zeros(pressed.shape[1], dtype=np.int64)
    out = np.zeros(len(pressed), dtype=np.int64)
    for i, row in enumerate(pressed):
        run = np.where(row, run + 1, 0)
        out[i] = run.max(initial=0)
    return out


def build_suite(cfg: SuiteLimits, expected_rows: int, localized: bool = True, unobserved: tuple[str, ...] = ()) -> list[Any]:
    """The action-table expectations; each carries meta.reason, the quarantine reason it stands for.

    `localized=False` leaves out weak_localization, for tables whose source has no inlier count;
    the value expectations of `unobserved` axes (canonical names, e.g. RIGHT_X) are left out.
    """
    # Local: great_expectations takes seconds to import, and importing the gate stage's config
    # (the CLI, the params docs) must not pay for it.
    import great_expectations.expectations as gxe

    def e(cls, reason: str, **kwargs):
        return cls(meta={"reason": reason}, **kwargs)

    columns = [f.name for f in ACTION_TABLE_SCHEMA]
    suite = [
        e(gxe.ExpectTableColumnsToMatchSet, "schema", column_set=_flat_columns(columns), exact_match=False),
        e(gxe.ExpectColumnValuesToBeOfType, "dtype", column="frame", type_="int64"),
        e(gxe.ExpectColumnValuesToBeOfType, "dtype", column="t", type_="float64"),
        e(gxe.ExpectColumnValuesToBeOfType, "dtype", column="confidence", type_="float32"),
        e(gxe.ExpectColumnValuesToBeUnique, "duplicate_frame", column="frame"),
        e(gxe.ExpectColumnValuesToBeIncreasing, "frame_order", column="frame", strictly=True),
        e(gxe.ExpectColumnMinToBeBetween, "frame_gap", column="frame", min_value=0, max_value=0),
        e(gxe.ExpectColumnMaxToBeBetween, "frame_gap", column="frame", min_value=expected_rows - 1 - cfg.max_frame_count_error,
          max_value=expected_rows - 1 + cfg.max_frame_count_error),
        e(gxe.ExpectTableRowCountToBeBetween, "duration", min_value=expected_rows - cfg.max_frame_count_error,
          max_value=expected_rows + cfg.max_frame_count_error),
        e(gxe.ExpectColumnValuesToBeBetween, "fps", column="t_error", min_value=-cfg.timing_tolerance_s,
          max_value=cfg.timing_tolerance_s),
        e(gxe.ExpectColumnMeanToBeBetween, "low_confidence", column="low_confidence", min_value=0.0,
          max_value=cfg.max_low_confidence_share),
        e(gxe.ExpectColumnMaxToBeBetween, "stuck_button", column="hold_s", max_value=cfg.max_button_hold_s),
    ]
    if localized:
        suite.append(e(gxe.ExpectColumnMinToBeBetween, "weak_localization", column="inliers",
                        min_value=DEFAULT_MIN_INLIERS if cfg.min_inliers is None else cfg.min_inliers))
    for column in NITROGEN_BUTTON_COLUMNS:
        suite.append(e(gxe.ExpectColumnValuesToBeOfType, "dtype", column=column, type_="bool"))
    for column in AXIS_COLUMNS:
        if column.upper() in unobserved:
            continue
        suite.append(e(gxe.ExpectColumnValuesToNotBeNull, "axis_nan", column=column))
        suite.append(e(gxe.ExpectColumnValuesToBeBetween, "axis_out_of_range", column=column, min_value=-1.0, max_value=1.0))
    return suite


def _flat_columns(columns: list[str]) -> list[str]:
    out = []
    for c in columns:
        out += list(AXIS_COLUMNS[:2]) if c == "j_left" else list(AXIS_COLUMNS[2:]) if c == "j_right" else [c]
    return out


class TableValidator:
    """A Great Expectations context holding the suite, validating one DataFrame per table.

    With `docs_dir`, `build_docs()` writes Data Docs (HTML) of every validation so far there, once after the last
    table: GX's UpdateDataDocsAction rebuilt the site's index after every validation, a cost that grows with the
    square of the tables (docs/operations.md).
    """

    def __init__(self, cfg: SuiteLimits, docs_dir: Path | None = None):
        # Local: see build_suite.
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.cfg = cfg
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.docs_dir = docs_dir
        if docs_dir is not None:
            self.context.add_data_docs_site(
                site_name=DOCS_SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self.asset = self.context.data_sources.add_pandas("padflow").add_dataframe_asset("action_tables")
        self.batch = self.asset.add_batch_definition_whole_dataframe("table")
        self._checkpoints: dict[tuple[int, bool, tuple[str, ...]], Any] = {}

    def _checkpoint(self, expected_rows: int, localized: bool, unobserved: tuple[str, ...]):
        # The duration expectations depend on the ingested length, so one suite per length (and per
        # set of unobserved axes, whose expectations the suite leaves out).
        unobserved = tuple(a for a in unobserved if a.lower() in AXIS_COLUMNS)
        key = (expected_rows, localized, unobserved)
        if key not in self._checkpoints:
            gx = self.gx
            name = f"{SUITE_NAME}_{expected_rows}" + ("" if localized else "_unlocalized")
            name += "".join(f"_no_{a.lower()}" for a in unobserved)
            expectations = build_suite(self.cfg, expected_rows, localized, unobserved)
            suite = self.context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
            vd = self.context.validation_definitions.add(gx.ValidationDefinition(name=name, data=self.batch, suite=suite))
            self._checkpoints[key] = self.context.checkpoints.add(
                gx.Checkpoint(name=name, validation_definitions=[vd], result_format="SUMMARY")
            )
        return self._checkpoints[key]

    def build_docs(self) -> None:
        """Data Docs of every suite and every validation so far, into `docs_dir` (ValueError without one)."""
        if self.docs_dir is None:
            raise ValueError("this TableValidator was made without docs_dir: there is nowhere to write Data Docs")
        self.context.build_data_docs(site_names=[DOCS_SITE])

    def validate(
        self, table_id: str, df: pd.DataFrame, expected_rows: int, localized: bool = True, unobserved: tuple[str, ...] = ()
    ) -> tuple[list[str], list[str]]:
        """(reasons, failed expectation names) for one table; both empty when it passes. `unobserved`: its table_unobserved."""
        from great_expectations.core.run_identifier import RunIdentifier

        result = self._checkpoint(expected_rows, localized, tuple(unobserved)).run(
            batch_parameters={"dataframe": df}, run_id=RunIdentifier(run_name=table_id)
        )
        reasons: list[str] = []
        failed: list[str] = []
        for validation in result.run_results.values():
            for r in validation.results:
                if r.success:
                    continue
                config = r.expectation_config
                column = config.kwargs.get("column")
                failed.append(f"{config.type}({column})" if column else config.type)
                reason = config.meta.get("reason", config.type)
                if reason not in reasons:
                    reasons.append(reason)
        return reasons, failed


def table_reasons(validator: TableValidator, table_id: str, table: pa.Table, fps: float, expected_rows: int,
                  inliers: int | None) -> tuple[list[str], list[str]]:  # fmt: skip
    """(reasons, failed expectation names) the suite gives one action table; both empty when the gate would accept it.

    `inliers`: the localization's inlier count, None where the table's source has none (its check is then left out).
    A frame is low-confidence below the validator's own `min_confidence`.
    """
    frame = table_frame(table, fps, inliers, validator.cfg.min_confidence)
    return validator.validate(table_id, frame, expected_rows, localized=inliers is not None, unobserved=table_unobserved(table))


def reading_reasons(validator: TableValidator, table_id: str, actions: np.ndarray, confidence: np.ndarray, fps: float,
                    unobserved: tuple[str, ...]) -> list[str]:  # fmt: skip
    """The quarantine reasons the suite gives a reading ((T, 21) actions, (T,) confidence) as extract would write it; [] = accepted.

    For benches that read clips without writing tables: the gate's verdict on a reading, the localization's check left out.
    """
    table = actions_to_table(actions, fps, confidence, unobserved)
    return table_reasons(validator, table_id, table, fps, len(actions), None)[0]
