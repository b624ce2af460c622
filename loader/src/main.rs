//! `tracee-load IMAGE`: checks the image and installs its maps into the kernel. Attaching
//! the event programs and printing events come next (issue 4); until then the loader stops
//! after the install and says so.

use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "tracee-load",
    version,
    about = "Install a tracee-compile map image into the kernel"
)]
struct Cli {
    /// The image written by `tracee-compile -o`.
    image: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let image = match schema::image::read_file(&cli.image) {
        Ok((image, _)) => image,
        Err(err @ schema::image::ReadError::Io { .. }) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(1);
        }
    };
    let mut storage = MaybeUninit::uninit();
    match loader::install(&image, &mut storage) {
        Ok((_skel, installed)) => {
            eprintln!(
                "installed {} entries into {} maps; attaching event programs is not implemented yet",
                installed.entries, installed.maps
            );
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}
