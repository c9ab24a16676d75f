//! The measures densify computes, named and parsed as trec_eval names them.

use std::fmt;
use std::str::FromStr;

use crate::error::EvalError;

/// trec_eval's default cutoffs for `P`, `recall`, `ndcg_cut` and `map_cut`.
pub const TREC_DEFAULT_CUTOFFS: [usize; 9] = [5, 10, 15, 20, 30, 100, 200, 500, 1000];
/// trec_eval's default cutoffs for `success`.
pub const SUCCESS_DEFAULT_CUTOFFS: [usize; 3] = [1, 5, 10];

/// One evaluation measure, computed per query exactly as trec_eval does.
///
/// Relevant means grade >= 1; unjudged documents count as non-relevant with gain 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    /// `ndcg`: nDCG over the whole ranking, gain = grade, discount 1/log2(rank + 1).
    Ndcg,
    /// `ndcg_cut.k`: nDCG of the top k against the ideal top k built from the qrels.
    NdcgCut(usize),
    /// `recall.k`: relevant documents in the top k / relevant documents of the query.
    Recall(usize),
    /// `P.k`: relevant documents in the top k / k.
    Precision(usize),
    /// `map`: average precision over the whole ranking.
    Map,
    /// `map_cut.k`: average precision over the top k (divided by all relevant documents).
    MapCut(usize),
    /// `recip_rank`: 1 / rank of the first relevant document.
    RecipRank,
    /// `recip_rank.k` (densify's name for MRR@k): recip_rank over the top k only, i.e.
    /// trec_eval's recip_rank on the run cut to k documents per query.
    RecipRankCut(usize),
    /// `success.k`: 1 if a relevant document is in the top k, else 0.
    Success(usize),
}

impl Measure {
    /// Parses one trec_eval measure argument into the measures it names.
    ///
    /// Accepts `name.k`, `name_k` (pytrec_eval's output form), comma lists `name.5,10`, and a
    /// bare `name` for trec_eval's default cutoffs.
    pub fn parse_list(text: &str) -> Result<Vec<Measure>, EvalError> {
        let unknown = || EvalError::UnknownMeasure(text.to_owned());
        let (name, cutoffs) = split_name(text);
        let cutoffs: Option<Vec<usize>> = match cutoffs {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(|k| k.trim().parse::<usize>().ok().filter(|&k| k > 0))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(unknown)?,
            ),
        };
        let with = |make: fn(usize) -> Measure, defaults: &[usize]| -> Vec<Measure> {
            cutoffs
                .clone()
                .unwrap_or_else(|| defaults.to_vec())
                .into_iter()
                .map(make)
                .collect()
        };
        let no_cutoff = |m: Measure| {
            if cutoffs.is_some() {
                Err(unknown())
            } else {
                Ok(vec![m])
            }
        };
        match name {
            "ndcg" => no_cutoff(Measure::Ndcg),
            "map" => no_cutoff(Measure::Map),
            "ndcg_cut" => Ok(with(Measure::NdcgCut, &TREC_DEFAULT_CUTOFFS)),
            "recall" => Ok(with(Measure::Recall, &TREC_DEFAULT_CUTOFFS)),
            "P" => Ok(with(Measure::Precision, &TREC_DEFAULT_CUTOFFS)),
            "map_cut" => Ok(with(Measure::MapCut, &TREC_DEFAULT_CUTOFFS)),
            "success" => Ok(with(Measure::Success, &SUCCESS_DEFAULT_CUTOFFS)),
            "recip_rank" => match cutoffs {
                None => Ok(vec![Measure::RecipRank]),
                Some(_) => Ok(with(Measure::RecipRankCut, &[])),
            },
            _ => Err(unknown()),
        }
    }

    /// The measure's cutoff, if it has one.
    pub fn cutoff(self) -> Option<usize> {
        match self {
            Measure::Ndcg | Measure::Map | Measure::RecipRank => None,
            Measure::NdcgCut(k)
            | Measure::Recall(k)
            | Measure::Precision(k)
            | Measure::MapCut(k)
            | Measure::RecipRankCut(k)
            | Measure::Success(k) => Some(k),
        }
    }
}

/// Splits `ndcg_cut.10`, `ndcg_cut_10` or `ndcg_cut` into the name and the cutoff list.
fn split_name(text: &str) -> (&str, Option<&str>) {
    if let Some((name, cutoffs)) = text.split_once('.') {
        return (name, Some(cutoffs));
    }
    // pytrec_eval's `ndcg_cut_10`: a trailing `_<digits>` is the cutoff.
    if let Some((name, last)) = text.rsplit_once('_')
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
    {
        return (name, Some(last));
    }
    (text, None)
}

impl FromStr for Measure {
    type Err = EvalError;

    /// Parses a single measure (`ndcg_cut.10`); use [`Measure::parse_list`] for lists.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match Measure::parse_list(text)?.as_slice() {
            [one] => Ok(*one),
            _ => Err(EvalError::UnknownMeasure(format!(
                "{text} (names several measures)"
            ))),
        }
    }
}

impl fmt::Display for Measure {
    /// trec_eval's output name, e.g. `ndcg_cut_10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Measure::Ndcg => write!(f, "ndcg"),
            Measure::NdcgCut(k) => write!(f, "ndcg_cut_{k}"),
            Measure::Recall(k) => write!(f, "recall_{k}"),
            Measure::Precision(k) => write!(f, "P_{k}"),
            Measure::Map => write!(f, "map"),
            Measure::MapCut(k) => write!(f, "map_cut_{k}"),
            Measure::RecipRank => write!(f, "recip_rank"),
            Measure::RecipRankCut(k) => write!(f, "recip_rank_{k}"),
            Measure::Success(k) => write!(f, "success_{k}"),
        }
    }
}

/// The measures `densify eval` reports when none is asked for.
pub const DEFAULT_MEASURES: [&str; 5] = ["ndcg_cut.10", "recall.100", "map", "recip_rank", "P.10"];

/// Parses measure names as trec_eval takes them (comma lists and bare names included), without
/// repeats, in the order given; an empty list gives [`DEFAULT_MEASURES`].
pub fn parse_measures<S: AsRef<str>>(names: &[S]) -> Result<Vec<Measure>, EvalError> {
    let names: Vec<&str> = if names.is_empty() {
        DEFAULT_MEASURES.to_vec()
    } else {
        names.iter().map(AsRef::as_ref).collect()
    };
    let mut measures = Vec::new();
    for name in names {
        for m in Measure::parse_list(name)? {
            if !measures.contains(&m) {
                measures.push(m);
            }
        }
    }
    Ok(measures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trec_and_pytrec_names() {
        assert_eq!(
            "ndcg_cut.10".parse::<Measure>().unwrap(),
            Measure::NdcgCut(10)
        );
        assert_eq!(
            "ndcg_cut_10".parse::<Measure>().unwrap(),
            Measure::NdcgCut(10)
        );
        assert_eq!("P.5".parse::<Measure>().unwrap(), Measure::Precision(5));
        assert_eq!("recip_rank".parse::<Measure>().unwrap(), Measure::RecipRank);
        assert_eq!(
            "recip_rank.10".parse::<Measure>().unwrap(),
            Measure::RecipRankCut(10)
        );
        assert_eq!(
            Measure::parse_list("recall.10,100").unwrap(),
            vec![Measure::Recall(10), Measure::Recall(100)]
        );
        assert_eq!(Measure::parse_list("success").unwrap().len(), 3);
        assert_eq!(Measure::parse_list("map_cut").unwrap().len(), 9);
    }

    #[test]
    fn rejects_unknown_names_and_bad_cutoffs() {
        for bad in ["bleu", "ndcg_cut.x", "P.0", "map.10", "recall.", ""] {
            assert!(Measure::parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn displays_trec_eval_names() {
        for name in [
            "ndcg_cut_10",
            "recall_100",
            "P_5",
            "map_cut_100",
            "map",
            "recip_rank",
            "success_1",
        ] {
            assert_eq!(name.parse::<Measure>().unwrap().to_string(), name);
        }
    }
}
