//! One serde value for any loss, so a recipe names its loss in TOML:
//!
//! ```toml
//! [loss]
//! type = "kl_distillation"
//! student_temperature = 0.05
//! ```

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::loss::RankingLoss;
use crate::{
    BinaryCrossEntropyConfig, InfoNceConfig, KlDistillationConfig, ListMleConfig, ListNetConfig,
    ListwiseDistillationConfig, MarginMseConfig, RankNetConfig, SyclWassersteinConfig,
    Wasserstein1dConfig,
};

/// Any densify loss with its configuration, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LossConfig {
    /// [`crate::InfoNce`].
    InfoNce(InfoNceConfig),
    /// [`crate::KlDistillation`].
    KlDistillation(KlDistillationConfig),
    /// Listwise distillation: KL plus weighted InfoNCE.
    ListwiseDistillation(ListwiseDistillationConfig),
    /// [`crate::ListNet`].
    ListNet(ListNetConfig),
    /// [`crate::ListMle`].
    ListMle(ListMleConfig),
    /// [`crate::MarginMse`].
    MarginMse(MarginMseConfig),
    /// [`crate::RankNet`].
    RankNet(RankNetConfig),
    /// [`crate::BinaryCrossEntropy`].
    BinaryCrossEntropy(BinaryCrossEntropyConfig),
    /// [`crate::SyclWasserstein`].
    SyclWasserstein(SyclWassersteinConfig),
    /// [`crate::Wasserstein1d`].
    #[serde(rename = "wasserstein_1d")]
    Wasserstein1d(Wasserstein1dConfig),
}

impl Default for LossConfig {
    fn default() -> Self {
        Self::InfoNce(InfoNceConfig::default())
    }
}

/// What a loss reads from every example of a batch besides the student's scores
/// ([`LossConfig::requirements`]), so a trainer can check its data before the first step
/// instead of failing inside one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LossRequirements {
    /// A candidate marked positive in every list (InfoNCE's positive, MarginMSE's anchor,
    /// listwise distillation's contrastive term).
    pub positive: bool,
    /// Teacher scores (or probabilities) on every candidate.
    pub teacher: bool,
    /// Graded labels on every candidate.
    pub labels: bool,
}

impl LossConfig {
    /// The loss's `type` in a config (`"kl_distillation"`), for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::InfoNce(_) => "info_nce",
            Self::KlDistillation(_) => "kl_distillation",
            Self::ListwiseDistillation(_) => "listwise_distillation",
            Self::ListNet(_) => "list_net",
            Self::ListMle(_) => "list_mle",
            Self::MarginMse(_) => "margin_mse",
            Self::RankNet(_) => "rank_net",
            Self::BinaryCrossEntropy(_) => "binary_cross_entropy",
            Self::SyclWasserstein(_) => "sycl_wasserstein",
            Self::Wasserstein1d(_) => "wasserstein_1d",
        }
    }

    /// What the loss needs in every example: the targets its `forward` reads from
    /// [`crate::ScoredLists`] (which it would otherwise miss inside a training step).
    pub fn requirements(&self) -> LossRequirements {
        let none = LossRequirements::default();
        match self {
            Self::InfoNce(_) | Self::BinaryCrossEntropy(_) => LossRequirements {
                positive: true,
                ..none
            },
            Self::KlDistillation(_) => LossRequirements {
                teacher: true,
                ..none
            },
            // The KL term reads the teacher; the InfoNCE term the positive (paper B's
            // top-reranked passage), which is never guessed.
            Self::ListwiseDistillation(_) | Self::MarginMse(_) => LossRequirements {
                positive: true,
                teacher: true,
                ..none
            },
            Self::ListNet(_)
            | Self::ListMle(_)
            | Self::RankNet(_)
            | Self::SyclWasserstein(_)
            | Self::Wasserstein1d(_) => LossRequirements {
                labels: true,
                ..none
            },
        }
    }

    /// Builds the loss.
    pub fn init(&self) -> Result<Box<dyn RankingLoss>> {
        Ok(match self {
            Self::InfoNce(c) => Box::new(c.init()?),
            Self::KlDistillation(c) => Box::new(c.init()?),
            Self::ListwiseDistillation(c) => Box::new(c.init()?),
            Self::ListNet(c) => Box::new(c.init()?),
            Self::ListMle(c) => Box::new(c.init()?),
            Self::MarginMse(c) => Box::new(c.init()?),
            Self::RankNet(c) => Box::new(c.init()?),
            Self::BinaryCrossEntropy(c) => Box::new(c.init()?),
            Self::SyclWasserstein(c) => Box::new(c.init()?),
            Self::Wasserstein1d(c) => Box::new(c.init()?),
        })
    }
}

impl densify_core::Config for LossConfig {
    fn validate(&self) -> std::result::Result<(), densify_core::InvalidField> {
        self.init()
            .map(|_| ())
            .map_err(crate::error::LossError::into_invalid_field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use densify_core::Config;

    #[test]
    fn every_loss_reads_from_toml_with_defaults() {
        let c = LossConfig::from_toml_str(
            "type = \"kl_distillation\"\nstudent_temperature = 0.05\n",
            "loss.toml",
        )
        .unwrap();
        assert_eq!(
            c,
            LossConfig::KlDistillation(KlDistillationConfig::new().with_student_temperature(0.05))
        );
        for name in [
            "info_nce",
            "kl_distillation",
            "listwise_distillation",
            "list_net",
            "list_mle",
            "margin_mse",
            "rank_net",
            "binary_cross_entropy",
            "sycl_wasserstein",
            "wasserstein_1d",
        ] {
            let c = LossConfig::from_toml_str(&format!("type = \"{name}\"\n"), "l.toml").unwrap();
            assert!(c.init().is_ok(), "{name}");
            assert_eq!(
                LossConfig::from_toml_str(&c.to_toml_string(), "again").unwrap(),
                c
            );
        }
    }

    #[test]
    fn names_are_the_type_tags_and_requirements_match_the_targets_read() {
        let need = |positive, teacher, labels| LossRequirements {
            positive,
            teacher,
            labels,
        };
        for (name, wanted) in [
            ("info_nce", need(true, false, false)),
            ("kl_distillation", need(false, true, false)),
            ("listwise_distillation", need(true, true, false)),
            ("list_net", need(false, false, true)),
            ("list_mle", need(false, false, true)),
            ("margin_mse", need(true, true, false)),
            ("rank_net", need(false, false, true)),
            ("binary_cross_entropy", need(true, false, false)),
            ("sycl_wasserstein", need(false, false, true)),
            ("wasserstein_1d", need(false, false, true)),
        ] {
            let c = LossConfig::from_toml_str(&format!("type = \"{name}\"\n"), "l.toml").unwrap();
            assert_eq!(c.name(), name);
            assert_eq!(c.requirements(), wanted, "{name}");
        }
    }

    #[test]
    fn bad_fields_name_file_line_and_field() {
        let e = LossConfig::from_toml_str("type = \"info_nce\"\ntemprature = 0.1\n", "l.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("l.toml:2:1:") && e.contains("unknown field `temprature`"),
            "{e}"
        );
        let e = LossConfig::from_toml_str("type = \"info_nce\"\ntemperature = -1\n", "l.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("l.toml") && e.contains("temperature"), "{e}");
        let e = LossConfig::from_toml_str(
            "type = \"wasserstein_1d\"\nlabel_temperature = 0.0\n",
            "w.toml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "w.toml:2: `label_temperature` must be a finite number > 0, got 0"
        );
        let e = LossConfig::from_toml_str("type = \"hinge\"\n", "h.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `hinge`"), "{e}");
    }
}
