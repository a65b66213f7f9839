"""Settings of the three trainers; the training code builds TRL's own configs from them.

The defaults suit the bootstrapped models (a few million parameters) on a CPU: LoRA, fp32, no gradient
checkpointing, learning rates far above TRL's (FINDINGS.md: 3e-4 SFT and 5e-5 DPO worked on tiny models;
TRL's 2e-5 and 1e-6 barely move them). For a hub model on a GPU: `bf16` follows the GPU, lower the
learning rate, raise `max_length`, and turn on `gradient_checkpointing` if memory is short.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(_Settings):
    r: int = Field(16, gt=0, description="rank of the LoRA update matrices")
    alpha: int = Field(32, gt=0, description="LoRA scaling numerator (the update is scaled by alpha / r)")
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: str | list[str] = Field("all-linear", description="PEFT target modules; all-linear skips the LM head")


class TrainerSettings(_Settings):
    """What every trainer shares."""

    full: bool = Field(False, description="fine-tune every weight instead of a LoRA adapter")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    epochs: float = Field(3.0, gt=0, description="passes over the data set (max_steps wins when set)")
    max_steps: int | None = Field(None, gt=0, description="optimizer steps; null: as many as the epochs take")
    learning_rate: float = Field(3e-4, gt=0)
    warmup: float = Field(0.0, ge=0, description="warmup steps, or a fraction of all steps when below 1")
    batch_size: int = Field(8, gt=0, description="rows per device per step")
    grad_accum: int = Field(1, gt=0, description="steps whose gradients are summed before an update")
    max_length: int = Field(512, gt=0, description="tokens per row; capped at the model's context")
    seed: int = 0
    save_steps: int = Field(50, gt=0, description="a checkpoint every this many steps, so a killed run resumes")
    logging_steps: int = Field(1, gt=0, description="a loss point on the recorded curve every this many steps")
    device: str = Field("auto", description="auto (cuda when a GPU is visible), cpu or cuda")
    bf16: bool | None = Field(None, description="bfloat16 mixed precision; null: on when the GPU supports it "
                                                "(the CPU emulates bf16 about 15x slower)")
    gradient_checkpointing: bool = Field(False, description="trade compute for memory (large models on a GPU)")
    threads: int | None = Field(1, gt=0, description="torch CPU threads; one is fastest on a shared 2-core "
                                                     "machine (see bootstrap), null leaves torch's default")


class SFTSettings(TrainerSettings):
    # Measured on the shipped tiny model: 3 epochs at 3e-4 did not move it (delta +0.05, interval over 0);
    # 6 epochs at 1e-3 gave +0.23 [+0.13, +0.35] on 80 test tasks.
    epochs: float = Field(6.0, gt=0, description="passes over the data set (max_steps wins when set)")
    learning_rate: float = Field(1e-3, gt=0)
    packing: bool = Field(False, description="pack whole rows into max_length, padding-free (TRL bfd); pays off "
                                             "with flash attention on a GPU, 1.5-2x slower on the CPU, where "
                                             "attention then spans the whole packed batch")


class DPOSettings(TrainerSettings):
    learning_rate: float = Field(2e-4, gt=0)
    beta: float = Field(0.1, gt=0, description="how far the policy may move from the reference (DPO's beta)")
    loss_type: str = Field("sigmoid", description="TRL DPO loss: sigmoid (DPO), ipo, hinge, robust, ...")
    precompute_ref: bool = Field(True, description="compute the reference log-probs once before training "
                                                   "instead of on every step")


class DistillSettings(SFTSettings):
    # Hinton et al. 2015 (arXiv:1503.02531): soften both distributions with T and weight the KL term by
    # alpha against the cross-entropy on the data; T=2, alpha=0.7 are the usual choices (e.g. DistilBERT).
    temperature: float = Field(2.0, gt=0, description="softmax temperature of the logit-level KL term")
    alpha: float = Field(0.7, ge=0, le=1, description="weight of the KL to the teacher; 1 - alpha weights the "
                                                      "cross-entropy on the data")


class TrainingSettings(_Settings):
    sft: SFTSettings = Field(default_factory=SFTSettings)
    dpo: DPOSettings = Field(default_factory=DPOSettings)
    distill: DistillSettings = Field(default_factory=DistillSettings)


class CurationSettings(BaseModel):
    """What a generation needs to become a row; scores are the jury's (eval/jury.yaml), on the 1-5 scale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sft_min_score: float = Field(2.5, ge=1, le=5, description="jury score an SFT row needs (besides being accepted)")
    kd_min_score: float = Field(3.0, ge=1, le=5, description="jury score a teacher output needs to be a KD row")
    dpo_min_margin: float = Field(0.5, gt=0, le=4, description="jury score of chosen minus rejected")
    min_judge_kinds: int = Field(2, ge=1, description="distinct judge kinds both sides of a pair were judged by")
    min_words: int = Field(10, ge=0, description="shortest document kept, in whitespace-separated words")
    max_words: int = Field(500, gt=0, description="longest document kept, in words")
    near_duplicate_jaccard: float = Field(0.8, gt=0, le=1, description=(
        "estimated Jaccard similarity of token 3-gram shingles at which two texts (or two tasks' code) "
        "count as near-duplicates"))
    num_perm: int = Field(128, ge=16, description="MinHash permutations")
    splits: list[Literal["train"]] = Field(default_factory=lambda: ["train"], min_length=1, description=(
        "splits rows come from; only train: dev and test tasks never reach a training set"))
    held_out: list[Literal["dev", "test"]] = Field(default_factory=lambda: ["dev", "test"], description=(
        "splits whose tasks' code a row's task must not be a near copy of (test is always among them)"))
    iterations: list[int] | None = Field(None, description="loop iterations to draw generations from; null: all")

    @model_validator(mode="after")
    def _consistent(self) -> CurationSettings:
        if self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) is above max_words ({self.max_words})")
        if "test" not in self.held_out:
            raise ValueError("held_out must include test: no row may come from a near copy of a test task")
        return self
