import pyarrow.parquet as pq

from hms.constants import CHAINS, EEG_CHANNELS, MIRROR_CHAINS, SPEC_COLUMNS, SPEC_FREQS, VOTE_COLS
from hms.signal.montage import PAIR_NAMES


def test_spectrogram_columns_match_the_real_files(real_dir):
    for path in [*real_dir.glob("train_spectrograms/*.parquet"), *real_dir.glob("test_spectrograms/*.parquet")]:
        assert pq.read_schema(path).names == ["time", *SPEC_COLUMNS]
    assert SPEC_COLUMNS[0] == "LL_0.59" and SPEC_COLUMNS[-1] == "RP_19.92" and len(SPEC_COLUMNS) == 400
    assert abs(SPEC_FREQS[0] - 0.5859375) < 1e-12


def test_eeg_channels_match_the_real_files(real_dir):
    for path in [*real_dir.glob("train_eegs/*.parquet"), *real_dir.glob("test_eegs/*.parquet")]:
        assert pq.read_schema(path).names == list(EEG_CHANNELS)


def test_vote_columns_match_sample_submission(real_dir):
    header = (real_dir / "sample_submission.csv").read_text().splitlines()[0].split(",")
    assert header == ["eeg_id", *VOTE_COLS]


def test_montage_pair_order():
    assert PAIR_NAMES[:4] == ("Fp1-F7", "F7-T3", "T3-T5", "T5-O1")
    assert PAIR_NAMES[4:8] == ("Fp2-F8", "F8-T4", "T4-T6", "T6-O2")
    assert PAIR_NAMES[8:12] == ("Fp1-F3", "F3-C3", "C3-P3", "P3-O1")
    assert PAIR_NAMES[12:] == ("Fp2-F4", "F4-C4", "C4-P4", "P4-O2")
    assert all(MIRROR_CHAINS[MIRROR_CHAINS[c]] == c for c in CHAINS)
