// Run before each test file (jest's setupFilesAfterEnv): its folders go when its tests are done.
import { removeTemporaryDirs } from './helpers';

afterAll(removeTemporaryDirs);
