#!/usr/bin/env bash
# Remake tests/data/walk_rot90.mp4 and walk_vfr.mp4 from the sample clip (needs ffmpeg; the tests
# only read the committed files). Both are 1-2 s of assets/sample/sports2d_walk.mp4 (BSD-3-Clause).
set -euo pipefail
cd "$(dirname "$0")"
S=../../assets/sample/sports2d_walk.mp4
T=$(mktemp -d)
# a phone-style clip: frames stored sideways (rotated 90 deg clockwise), rotation metadata to show them upright
ffmpeg -v error -y -ss 3 -i $S -t 1 -an -vf transpose=1 -c:v libx264 -crf 26 -preset slow -pix_fmt yuv420p \
    -video_track_timescale 30000 "$T/side.mp4"
ffmpeg -v error -y -i "$T/side.mp4" -c copy -metadata:s:v:0 rotate=90 walk_rot90.mp4
# variable frame rate: 1 s at 30 fps (sample frames 90-119) then 1 s at 15 fps (frames 120-148, every other)
ffmpeg -v error -y -ss 3 -i $S -t 1 -an -vf fps=30,scale=442:250 -c:v libx264 -crf 26 -preset slow \
    -pix_fmt yuv420p -video_track_timescale 90000 "$T/v30.mp4"
ffmpeg -v error -y -ss 4 -i $S -t 1 -an -vf fps=15,scale=442:250 -c:v libx264 -crf 26 -preset slow \
    -pix_fmt yuv420p -video_track_timescale 90000 "$T/v15.mp4"
printf "file '%s'\nfile '%s'\n" "$T/v30.mp4" "$T/v15.mp4" > "$T/list.txt"
ffmpeg -v error -y -f concat -safe 0 -i "$T/list.txt" -c copy walk_vfr.mp4
rm -r "$T"
