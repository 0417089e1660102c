import pad from "left-pad"; console.log(pad("file1", 8));
