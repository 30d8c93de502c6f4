"""Speech recognition with pocketsphinx: its stock US-English model (acoustic model,
language model and dictionary ship in the wheel), or that acoustic model with a domain
language model and dictionary built from the center's training transcripts. Decoding is
streaming: audio goes in as it arrives, in chunks."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from mlfabric.apps.callcenter import audio, lm
from mlfabric.apps.callcenter.dataset import read_manifest
from mlfabric.apps.callcenter.evaluation import TRANSCRIPTS
from mlfabric.apps.callcenter.prepare import skipped
from mlfabric.apps.callcenter.records import AsrModel, FileError, WerReport
from mlfabric.errors import InvalidInput, MlfabricError, NotFound
from mlfabric.extras import require
from mlfabric.progress import NO_PROGRESS, Progress

ASR_DIR = "asr"
LM_FILE = "domain.lm"
DICT_FILE = "domain.dict"
ORDER = 3
BACKGROUND = 5000  # most likely words of the stock model kept in the adapted one
CHUNK = 1600  # samples per chunk fed to the decoder: 0.1 s


def stock_dictionary() -> Path:
    ps = require("pocketsphinx", "callcenter")
    return Path(ps.get_model_path()) / "en-us" / "cmudict-en-us.dict"


def stock_unigrams(words: list[str], keep: int) -> dict[str, float]:
    """The stock language model's unigram probabilities of its ``keep`` likeliest
    ``words``."""
    ps = require("pocketsphinx", "callcenter")
    model = ps.NGramModel(ps.Config(), ps.LogMath(),
                          str(Path(ps.get_model_path()) / "en-us" / "en-us.lm.bin"))
    base = math.log(1.0001)  # pocketsphinx's default log base
    scored = sorted(((model.prob([w]), w) for w in words), reverse=True)[:keep]
    return {w: math.exp(logp * base) for logp, w in scored}


def adapt_asr(path: str, *, out: str | None = None, order: int = ORDER,
              background: int = BACKGROUND) -> AsrModel:
    """Build ``asr/domain.lm`` (ARPA) and ``asr/domain.dict`` from the training
    transcripts of the corpus at ``path``, mixed at the unigram level with the stock
    model's ``background`` likeliest words."""
    _, sentences = read_manifest(path)
    train = [s.text for s in sentences if s.split == "train"]
    if not train:
        raise InvalidInput(f"{path}: no training transcripts to adapt from")
    target = Path(out) if out else Path(path) / ASR_DIR
    target.mkdir(parents=True, exist_ok=True)
    lexicon = lm.parse_dictionary(stock_dictionary().read_text())
    general = stock_unigrams(sorted(lexicon), background) if background else None
    probs, backoff = lm.estimate(train, order, background=general)
    (target / LM_FILE).write_text(lm.to_arpa(probs, backoff))
    words = sorted(g[0] for g in probs[0] if g[0] not in (lm.BOS, lm.EOS))
    new = sorted({w for t in train for w in lm.tokens(t)} - set(lexicon))
    (target / DICT_FILE).write_text("".join(f"{w} {lm.pronounce(w, lexicon)}\n"
                                            for w in words))
    return AsrModel(path=str(target), lm=str(target / LM_FILE),
                    dictionary=str(target / DICT_FILE), sentences=len(train), words=len(words),
                    domain_words=len({w for t in train for w in lm.tokens(t)}),
                    new_words=new, order=order)


class Recognizer:
    """A streaming decoder: ``start``, ``feed`` chunks of int16 samples, ``finish`` for
    the words. ``model`` is a folder from ``adapt_asr`` (None: the stock model)."""

    def __init__(self, model: str | Path | None = None) -> None:
        ps = require("pocketsphinx", "callcenter")
        options: dict[str, object] = {"samprate": audio.RATE, "loglevel": "FATAL"}
        if model is not None:
            folder = Path(model)
            if not (folder / LM_FILE).is_file() or not (folder / DICT_FILE).is_file():
                raise NotFound("adapted ASR model", str(folder))
            options.update(lm=str(folder / LM_FILE), dict=str(folder / DICT_FILE))
        self.decoder = ps.Decoder(**options)

    def start(self) -> None:
        self.decoder.start_utt()

    def feed(self, samples: np.ndarray) -> None:
        self.decoder.process_raw(samples.astype("<i2").tobytes(), False, False)

    def finish(self) -> str:
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def transcribe(self, samples: np.ndarray) -> str:
        """One utterance, fed in 0.1 s chunks as a stream would bring it."""
        self.start()
        for i in range(0, len(samples), CHUNK):
            self.feed(samples[i:i + CHUNK])
        return self.finish()


def transcribe_corpus(path: str, *, split: str = "test", model: str | None = None,
                      progress: Progress = NO_PROGRESS
                      ) -> tuple[dict[str, str], list[FileError], float]:
    """ASR text per sentence audio (keyed by MP3 path) of one split, from the prepared
    WAVs; files preparation skipped are left out. Also the audio seconds decoded."""
    root = Path(path)
    _, sentences = read_manifest(root)
    bad = {e.file: e for e in skipped(root)}
    rec = Recognizer(model)
    out: dict[str, str] = {}
    errors: list[FileError] = []
    seconds = 0.0
    mine = [s for s in sentences if s.split == split]
    progress.start("recognizing", len(mine))
    for s in mine:
        progress.advance()
        if s.audio in bad:
            errors.append(bad[s.audio])
            continue
        try:
            samples = audio.read_wav(root / s.wav)
        except FileNotFoundError:
            errors.append(FileError(file=s.audio, reason="not prepared (run prepare)"))
            continue
        except MlfabricError as exc:
            errors.append(FileError(file=s.audio, reason=str(exc)))
            continue
        seconds += len(samples) / audio.RATE
        out[s.audio] = rec.transcribe(samples)
    progress.finish()
    return out, errors, seconds


def word_error_rate(path: str, *, model: str | None = None,
                    progress: Progress = NO_PROGRESS) -> WerReport:
    """WER of the stock and the adapted model (``model``, default ``PATH/asr``) on the
    held-out calls, against the gold transcripts; both models' transcripts are kept in
    ``PATH/transcripts.json`` for the sentiment evaluation."""
    jiwer = require("jiwer", "callcenter")
    root = Path(path)
    adapted = model or str(root / ASR_DIR)
    _, sentences = read_manifest(root)
    gold = {s.audio: s.text for s in sentences if s.split == "test"}
    started = time.perf_counter()
    stock, errors, seconds = transcribe_corpus(path, model=None, progress=progress)
    domain, _, _ = transcribe_corpus(path, model=adapted, progress=progress)
    keys = sorted(stock)
    if not keys:
        raise InvalidInput(f"{path}: no held-out sentence could be recognized")
    refs = [gold[k] for k in keys]
    (root / TRANSCRIPTS).write_text(json.dumps({"stock": stock, "adapted": domain},
                                               indent=1, sort_keys=True) + "\n")
    return WerReport(path=str(root), sentences=len(keys),
                     stock_wer=float(jiwer.wer(refs, [stock[k] for k in keys])),
                     adapted_wer=float(jiwer.wer(refs, [domain[k] for k in keys])),
                     errors=errors, seconds=time.perf_counter() - started,
                     audio_seconds=seconds)
