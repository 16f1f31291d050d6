"""What a user uploads is bounded before it is parsed, and parsed off the event loop (issue 28).

Wide headers, long lines and too many cells are refused with one line naming the limit; the
tolerant CSV reader is linear in the columns; :func:`run_limited` keeps the event loop answering
while the work runs and refuses work past its time.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from workbench.security.upload import read_upload
from workbench.catalog.tolerant_csv import read_tolerant
from workbench.errors import WorkbenchError
from workbench.security.upload_limits import UploadLimits, check_table_shape, run_limited


def wide_csv(columns: int, rows: int = 2) -> bytes:
    header = "title," + ",".join(f"c{i}" for i in range(columns - 1))
    body = ["Nike shoes," + ",".join("x" for _ in range(columns - 1)) for _ in range(rows)]
    return ("\n".join([header, *body]) + "\n").encode()


def test_a_wide_header_is_refused_before_parsing_naming_the_column_limit():
    raw = wide_csv(4_000)
    with pytest.raises(WorkbenchError) as err:
        read_upload("wide.csv", raw, limit_bytes=10 << 20, max_rows=100)
    message = str(err.value)
    assert message == ("wide.csv has 4,000 columns, above the limit of 500; keep the title, description and "
                       "brand columns and the attributes you need")
    assert "\n" not in message


def test_long_lines_and_too_many_cells_are_refused_naming_their_limit():
    limits = UploadLimits(max_columns=50, max_line_bytes=1_000, max_cells=100)
    long_line = b"title\n" + b"a" * 2_000 + b"\n"
    with pytest.raises(WorkbenchError, match=r"line 2 is 2,000 bytes, above the limit of 1,000 bytes per line"):
        check_table_shape("long.csv", long_line, limits)
    many = wide_csv(10, rows=20)
    with pytest.raises(WorkbenchError, match=r"about 200 cells \(10 columns x 20 lines\), above the limit of 100"):
        check_table_shape("many.csv", many, limits)
    assert check_table_shape("ok.csv", wide_csv(10, rows=5), limits) == (10, 6)
    # a quoted delimiter is one field, a semicolon file is counted by its own delimiter
    assert check_table_shape("q.csv", b'title;"a;b";c\nx;y;z\n', limits)[0] == 3


def test_a_file_inside_the_limits_is_read(tmp_path):
    upload = read_upload("ok.csv", wide_csv(20, rows=3), limit_bytes=10 << 20, max_rows=100)
    assert len(upload.products) == 3 and set(upload.products["title"]) == {"Nike shoes"}


def test_the_tolerant_reader_splits_a_wide_file_and_keeps_every_other_column(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes(wide_csv(20_000, rows=3))
    names, data, extra, rejects, delim = read_tolerant(path, columns=["title"])
    assert len(names) == 20_000 and list(data) == ["title"] and rejects == [] and delim == ","
    assert data["title"] == ["Nike shoes"] * 3
    assert extra[0].count('"x"') == 19_999


def test_run_limited_keeps_the_loop_answering_and_refuses_work_past_its_time():
    async def scenario():
        answered = []

        async def other_session():
            for _ in range(5):
                await asyncio.sleep(0.02)
                answered.append(time.monotonic())

        started = time.monotonic()
        work = asyncio.create_task(run_limited(time.sleep, 0.6, seconds=5, what="slow.csv"))
        await other_session()
        await work
        finished = time.monotonic()
        assert len(answered) == 5 and answered[-1] < started + 0.5 < finished  # answered during the work
        with pytest.raises(WorkbenchError) as err:
            await run_limited(time.sleep, 1.0, seconds=0.2, what="slow.csv")
        assert str(err.value) == ("reading and classifying slow.csv took longer than the limit of 0.2 s; "
                                  "split it into smaller files")

    asyncio.run(scenario())


def test_run_bounded_answers_the_work_or_refuses_it_past_its_time():
    from workbench.security.upload_limits import run_bounded

    assert run_bounded(sum, [1, 2, 3], seconds=5) == 6
    with pytest.raises(WorkbenchError, match=r"^reading and classifying w.csv took longer than the limit of 0.1 s"):
        run_bounded(time.sleep, 1.0, seconds=0.1, what="w.csv")
    with pytest.raises(WorkbenchError, match="inner"):
        run_bounded(lambda: (_ for _ in ()).throw(WorkbenchError("inner")), seconds=5)
