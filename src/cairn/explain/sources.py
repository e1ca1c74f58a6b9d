"""Which user input each encoded column comes from, so contributions are told in the user's columns.

The encoder turns one input into several columns (one-hot levels, a missing flag, quantile bins, date parts, text
counts, target means per class); each is summed back to its input. A derived feature (`features.derive`) is
computed from inputs inside the pipeline: its share is split equally among the inputs its expression reads, the
one split that needs no model-specific reasoning (a Shapley split inside the expression would need the model's
answers on every mix of its inputs). A level's slope on a number (sparse_linear's encoder) reads two inputs, the
category and the number, and is split between them the same way. The sum over inputs is unchanged by these
splits, so additivity holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cairn.estimators.encoder import DATE_PARTS, DerivedColumns, TabularEncoder
from cairn.estimators.shapes import TEXT_PARTS

# What an encoded column comes from: an input or derived feature, or several (a level's slope on a number)
Source = str | tuple[str, ...]


def encoded_sources(encoder: TabularEncoder) -> list[Source]:
    """The source column of each encoded column, in the order of `get_feature_names_out` (checked); the columns
    of a level's slope on a number come from two, the category and the number."""
    sources: list[Source] = list(encoder.numeric)
    sources += [date for date in encoder.dates for _ in ("days", *DATE_PARTS)]
    sources += [text for text in encoder.texts for _ in TEXT_PARTS]
    sources += [encoder.numeric[i] for i in encoder.flagged_]
    sources += [encoder.dates[i] for i in encoder.date_flagged_]
    sources += [encoder.numeric[column] for column, edges in encoder.bin_edges_ for _ in range(len(edges) + 1)]
    for index, name in enumerate(encoder.categorical):
        if index in encoder.target_means_:
            sources += [name] * len(encoder.target_suffixes_)
        elif not encoder.one_hot:
            sources.append(name)
        else:
            sources += [name] * len(set(encoder.codes_[index].values()))
    for category, number in encoder.slopes_:  # a level's slope on a number reads both
        sources += [(encoder.categorical[category], encoder.numeric[number])] * encoder.level_counts_[category]
    width = len(encoder.get_feature_names_out())
    if len(sources) != width:
        raise RuntimeError(f"cairn.explain maps {len(sources)} encoded columns, the encoder makes {width}: "
                           "the encoder's layout changed without cairn.explain.sources")
    return sources


def derived_inputs(deriver: DerivedColumns | None) -> dict[str, tuple[str, ...]]:
    """Each derived feature and the inputs its expression reads."""
    if deriver is None:
        return {}
    from cairn.expr import parse

    return {name: parse(name, text, known_columns=list(deriver.inputs)).columns
            for name, text in deriver.expressions}


def source_matrix(sources: list[Source], inputs: list[str], derived: dict[str, tuple[str, ...]]
                  ) -> np.ndarray:
    """(encoded columns x inputs): 1 where a column comes from an input; a column from several sources (a level's
    slope), or a derived column, has its 1 split equally among the inputs they read. A source that is neither an
    input nor derived cannot occur in a cairn pipeline."""
    position = {name: index for index, name in enumerate(inputs)}
    matrix = np.zeros((len(sources), len(inputs)))
    for row, source in enumerate(sources):
        owners = [name for part in ((source,) if isinstance(source, str) else source)
                  for name in ([part] if part in position else derived.get(part, ())) if name in position]
        if not owners:
            raise RuntimeError(f"encoded column from {source!r} reads no model input: cannot explain it")
        for owner in owners:
            matrix[row, position[owner]] += 1.0 / len(owners)
    return matrix


def pipeline_parts(pipeline: Any) -> tuple[DerivedColumns | None, TabularEncoder, Any]:
    """The derive step (or None), the encoder and the model of a pipeline cairn built; anything else is refused."""
    steps = [step for _, step in pipeline.steps if step is not None and step != "passthrough"]
    *transforms, model = steps
    deriver = next((step for step in transforms if isinstance(step, DerivedColumns)), None)
    encoders = [step for step in transforms if isinstance(step, TabularEncoder)]
    others = [step for step in transforms if not isinstance(step, DerivedColumns | TabularEncoder)]
    if len(encoders) != 1 or others:
        raise TypeError(f"cannot explain a pipeline of {[type(step).__name__ for step in steps]}: cairn explains "
                        "the pipelines it builds (derive -> encode -> model)")
    return deriver, encoders[0], model
