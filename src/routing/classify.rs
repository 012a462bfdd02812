//! Request classification: task class, difficulty and risk, each with a reason.
//!
//! Interface only for now; the heuristics land with the classifier work (issue 3).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskClass {
    Classification,
    Extraction,
    Summarization,
    Rewrite,
    Translation,
    Code,
    Math,
    Reasoning,
    Creative,
    Chat,
    AgenticToolUse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskTier {
    Low,
    Medium,
    High,
    Irreversible,
}

/// What the classifier saw in the request, kept for policy conditions and explanations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Features {
    pub prompt_tokens: u64,
    pub messages: usize,
    pub user_turns: usize,
    pub system_tokens: u64,
    pub has_tools: bool,
    pub has_tool_results: bool,
    pub has_images: bool,
    pub wants_json: bool,
    pub has_schema: bool,
    pub max_output_tokens: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub task: TaskClass,
    pub task_reason: String,
    /// 0 (trivial) to 1 (hard).
    pub difficulty: f64,
    pub difficulty_reason: String,
    pub risk: RiskTier,
    pub risk_reason: String,
    pub features: Features,
}
