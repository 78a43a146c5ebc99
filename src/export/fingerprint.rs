//! A hash of an output's contents, kept in the incremental state: an output changed by hand (or
//! replaced by another run) between two runs is noticed, and the next run pulls in full.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use super::staging::Shape;

/// The hash of the output of `shape` at `path`, as 32 hex digits; `None` when there is nothing
/// there. A folder and a zip hash each file's name, length and bytes in name order, so a zip hashes
/// like the staged folder it was made from (what a run publishes can be hashed before it is
/// uploaded); a single file hashes its bytes.
pub(super) fn of(shape: Shape, path: &Path) -> io::Result<Option<String>> {
    let mut hash = Xxh3::new();
    let result = match shape {
        Shape::Folder => folder(path, &mut hash),
        Shape::Zip => zip_entries(path, &mut hash),
        Shape::File => file(path, &mut hash),
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

fn zip_entries(path: &Path, hash: &mut Xxh3) -> io::Result<()> {
    let mut zip =
        zip::ZipArchive::new(io::BufReader::new(File::open(path)?)).map_err(io::Error::other)?;
    let mut names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(io::Error::other)?;
    names.sort();
    for name in names {
        let entry = zip.by_name(&name).map_err(io::Error::other)?;
        hash.update(name.as_bytes());
        hash.update(&[0]);
        hash.update(&entry.size().to_le_bytes());
        stream(entry, hash)?;
    }
    Ok(())
}

fn file(path: &Path, hash: &mut Xxh3) -> io::Result<()> {
    stream(File::open(path)?, hash)
}

fn stream(mut from: impl Read, hash: &mut Xxh3) -> io::Result<()> {
    let mut buf = vec![0; 256 * 1024];
    loop {
        match from.read(&mut buf)? {
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
        // A zip of the folder hashes like the folder.
        let zipped = dir.path().join("out.zip");
        let mut zip = zip::ZipWriter::new(File::create(&zipped).unwrap());
        zip.start_file("a.csv", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"x,z\r\n").unwrap();
        zip.finish().unwrap();
        assert_eq!(of(Shape::Zip, &zipped).unwrap().unwrap(), edited);
        fs::rename(out.join("a.csv"), out.join("b.csv")).unwrap();
        assert_ne!(of(Shape::Folder, &out).unwrap().unwrap(), edited);
    }
}
