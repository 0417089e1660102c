import { add } from "tiny-lib"; console.log(add(1, 2));
