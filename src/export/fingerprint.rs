//! A hash of an output's contents, kept in the incremental state: an output changed by hand (or
//! replaced by another run) between two runs is noticed, and the next run pulls in full.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use super::staging::Shape;

/// The hash of the output of `shape` at `path` (a folder: each file's name, length and bytes in
/// name order; a zip or a file: its bytes), as 32 hex digits; `None` when there is nothing there.
pub(super) fn of(shape: Shape, path: &Path) -> io::Result<Option<String>> {
    let mut hash = Xxh3::new();
    let result = match shape {
        Shape::Folder => folder(path, &mut hash),
        Shape::Zip | Shape::File => file(path, &mut hash),
    };
    match result {
        Ok(()) => Ok(Some(format!("{:032x}", hash.digest128()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn folder(path: &Path, hash: &mut Xxh3) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(path)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        hash.update(name.as_encoded_bytes());
        hash.update(&[0]);
        let child = path.join(&name);
        hash.update(&fs::metadata(&child)?.len().to_le_bytes());
        file(&child, hash)?;
    }
    Ok(())
}

fn file(path: &Path, hash: &mut Xxh3) -> io::Result<()> {
    let mut f = File::open(path)?;
    let mut buf = vec![0; 256 * 1024];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(()),
            n => hash.update(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_byte_or_name_changes_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        assert_eq!(of(Shape::Zip, &dir.path().join("none.zip")).unwrap(), None);
        fs::write(out.join("a.csv"), "x,y\r\n").unwrap();
        let first = of(Shape::Folder, &out).unwrap().unwrap();
        assert_eq!(of(Shape::Folder, &out).unwrap().unwrap(), first);
        fs::write(out.join("a.csv"), "x,z\r\n").unwrap();
        let edited = of(Shape::Folder, &out).unwrap().unwrap();
        assert_ne!(edited, first);
        fs::rename(out.join("a.csv"), out.join("b.csv")).unwrap();
        assert_ne!(of(Shape::Folder, &out).unwrap().unwrap(), edited);
    }
}
