//! `densify data`: get datasets.

use std::path::PathBuf;

use clap::Subcommand;
use densify_data::download::{
    BEIR_BASE_URL, Checksum, DownloadTimeouts, download_dataset_with_timeouts, published,
    published_names,
};

use crate::args::CliResult;

/// Arguments of `densify data`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download a published BEIR dataset zip, check its checksum, unpack it into the data folder.
    /// Gives up with an error after 30 s without a connection, or 60 s without a byte from the
    /// server ($DENSIFY_DOWNLOAD_TIMEOUT_SECS sets the latter, in seconds).
    Download(DownloadArgs),
}

#[derive(clap::Args)]
struct DownloadArgs {
    /// The dataset: a BEIR name (scifact, nfcorpus, fiqa, arguana, ...) or, with --url and a
    /// checksum, any BEIR-format zip whose top folder has this name.
    name: String,
    /// The folder that receives `<name>/`. Default: $DENSIFY_DATA, else ./data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Download from this URL instead of the BEIR project's (a mirror of the same zip).
    #[arg(long)]
    url: Option<String>,
    /// Check the zip against this sha256 instead of the pinned checksum.
    #[arg(long, conflicts_with = "md5")]
    sha256: Option<String>,
    /// Check the zip against this md5 instead of the pinned checksum.
    #[arg(long)]
    md5: Option<String>,
}

/// Runs `densify data`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        DataCommand::Download(args) => download(args),
    }
}

fn download(args: DownloadArgs) -> CliResult {
    // A bad $DENSIFY_DOWNLOAD_TIMEOUT_SECS is refused before anything else.
    let timeouts = DownloadTimeouts::from_env()?;
    let pinned = published(&args.name);
    let checksum = match (&args.sha256, &args.md5, &pinned) {
        (Some(s), _, _) => Checksum::Sha256(s.to_lowercase()),
        (_, Some(m), _) => Checksum::Md5(m.to_lowercase()),
        (None, None, Some(p)) => Checksum::of(p),
        (None, None, None) => {
            return Err(format!(
                "`{}` is not a published BEIR dataset (known: {}); give --url and --sha256 for \
                 another zip",
                args.name,
                published_names().join(", ")
            )
            .into());
        }
    };
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("{BEIR_BASE_URL}/{}.zip", args.name));
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        std::env::var_os("DENSIFY_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("data"))
    });
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(args.name.clone());
    let done = download_dataset_with_timeouts(
        &args.name,
        &url,
        &checksum,
        &data_dir,
        &timeouts,
        &mut |n, total| {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(n);
        },
    );
    bar.finish_and_clear();
    let done = done?;
    eprintln!(
        "{}: {} bytes from {url}, sha256 {} -> {}",
        args.name,
        done.bytes,
        done.sha256,
        done.folder.display()
    );
    Ok(())
}
