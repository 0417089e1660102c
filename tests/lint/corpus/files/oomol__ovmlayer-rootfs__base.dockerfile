FROM ubuntu:latest

RUN apt update && apt install zsh -y
