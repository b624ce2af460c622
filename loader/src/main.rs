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
    let bytes = match std::fs::read(&cli.image) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("error: cannot read `{}`: {err}", cli.image.display());
            return ExitCode::from(2);
        }
    };
    let image = match schema::image::decode(&bytes) {
        Ok(image) => image,
        Err(err) => {
            eprintln!(
                "error: `{}` is not a valid image: {err}",
                cli.image.display()
            );
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
