"""The "hf" corpus: any Hugging Face dataset read through `datasets.load_dataset`.

Hub datasets need a network the first time (later the datasets cache serves them; set
HF_DATASETS_OFFLINE=1 to forbid downloads). Local files work through the builder names
"json", "parquet" and "text" with `data_files`, with no network at all.

Only one split is read (`hf.split`); our train/test split is hashed out of it by the sha256 of
each document's text, as for the other corpora. Hashing the content (not the row index) keeps
exact duplicate documents on one side and does not depend on the dataset's row order.
"""

import hashlib

from configs.data import HFDataConfig
from configs.errors import ConfigError
from harness.data.documents import Document, SplitCorpus, split_corpus

# Rows fetched from the Arrow table per Python-level batch while collecting texts.
ROWS_PER_BATCH = 10_000


def unreachable_errors() -> tuple[type[BaseException], ...]:
    """What datasets and huggingface_hub raise when the Hub cannot be reached (offline mode included)."""
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    return ConnectionError, LocalEntryNotFoundError, OfflineModeIsEnabled


def load_hf_split(config: HFDataConfig):
    """The configured split as a `datasets.Dataset` (imported here: datasets is slow to import)."""
    import datasets

    data_files = list(config.data_files) or None
    try:
        dataset = datasets.load_dataset(config.name, config.config_name, split=config.split,
                                        data_files=data_files)
    except unreachable_errors() as exc:
        raise ConfigError("data.hf.name", config.name, f"the dataset could not be reached ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'no network'}); without a network, point "
                          "data.hf.data_files at local copies (with data.hf.name=json, parquet or text), or use "
                          "data.corpus=text_files with data.text_files.globs=[...]; a dry run prints its plan without the "
                          "data with sweep.check_data=false") from exc
    if config.text_column not in dataset.column_names:
        raise ConfigError("data.hf.text_column", config.text_column,
                          f"dataset {config.name!r} split {config.split!r} has columns "
                          f"{dataset.column_names}")
    return dataset


def hf_documents(dataset, text_column: str) -> list[Document]:
    """Every row's text as a Document keyed by the text's sha256."""
    documents = []
    for start in range(0, len(dataset), ROWS_PER_BATCH):
        texts = dataset[start:start + ROWS_PER_BATCH][text_column]
        for row, text in enumerate(texts, start=start):
            if not isinstance(text, str):
                raise ConfigError("data.hf.text_column", text_column,
                                  f"row {row} holds {type(text).__name__}; the column must hold strings")
            documents.append(Document(hashlib.sha256(text.encode("utf-8")).hexdigest(), text))
    return documents


def load_hf(config: HFDataConfig, test_permille: int) -> SplitCorpus:
    """The hf corpus split by the hash of each document's text."""
    documents = hf_documents(load_hf_split(config), config.text_column)
    return split_corpus("hf", documents, test_permille, skipped_files=0)
